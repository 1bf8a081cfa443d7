/**
 * What a benchmark group reports: figures, each beside a floor measured in the same run, and
 * the context a group runs in (quick or full, cleanups, progress lines).
 */
import type { Summary } from "./stats.ts";

export interface Floor {
  /** What the floor is, e.g. "bare MessagePack echo over the same pipes". */
  name: string;
  value: number;
  unit: string;
  stats?: Summary;
}

export type FigureStatus = "measured" | "not-measured" | "unmeasured";

/** What a group declares up front: a figure it will report, with its goal. */
export interface FigureSpec {
  id: string;
  name: string;
  /** The goal as its issue states it (null: the issue asks for the figure, with no goal). */
  goal: string | null;
}

/** What a group reports for one figure. */
export interface Measurement {
  value: number;
  unit: string;
  stats?: Summary;
  /** The floor the ratio is taken against. */
  floor?: Floor;
  /** More floors shown beside it (each with its own ratio in the JSON). */
  otherFloors?: Floor[];
  /** Whether the goal was met (omit when the figure has no goal). */
  met?: boolean;
  /** What limits it: printed for every unmet goal (and kept in the JSON for the others). */
  limit?: string;
  note?: string;
}

export interface Figure extends FigureSpec {
  group: string;
  status: FigureStatus;
  value: number | null;
  unit: string | null;
  stats: Summary | null;
  floor: Floor | null;
  otherFloors: Array<Floor & { ratio: number }>;
  /** value / floor.value: above 1 a time is slower than its floor; below 1 a rate is slower than its floor. */
  ratio: number | null;
  met: boolean | null;
  limit: string | null;
  note: string | null;
  /** Why it was not measured. */
  reason: string | null;
}

export function measuredFigure(group: string, spec: FigureSpec, m: Measurement): Figure {
  const ratioOf = (f: Floor) => (f.value > 0 ? m.value / f.value : Number.NaN);
  return {
    ...spec,
    group,
    status: "measured",
    value: m.value,
    unit: m.unit,
    stats: m.stats ?? null,
    floor: m.floor ?? null,
    otherFloors: (m.otherFloors ?? []).map((f) => ({ ...f, ratio: ratioOf(f) })),
    ratio: m.floor ? ratioOf(m.floor) : null,
    met: spec.goal === null ? null : (m.met ?? null),
    limit: m.limit ?? null,
    note: m.note ?? null,
    reason: null,
  };
}

export function unmeasuredFigure(group: string, spec: FigureSpec, status: Exclude<FigureStatus, "measured">, reason: string): Figure {
  return {
    ...spec,
    group,
    status,
    value: null,
    unit: null,
    stats: null,
    floor: null,
    otherFloors: [],
    ratio: null,
    met: null,
    limit: null,
    note: null,
    reason,
  };
}

export interface GroupContext {
  /** A smoke run: seconds in all, small sizes, few samples. */
  quick: boolean;
  /** Reports one declared figure. */
  report(id: string, measurement: Measurement): void;
  /** Marks a declared figure as not measured (a module missing or not working), or unmeasured (no GPU). */
  skip(id: string, reason: string, status?: Exclude<FigureStatus, "measured">): void;
  /** Runs when the group ends, in reverse order of registration, even when it failed or timed out. */
  cleanup(fn: () => unknown): void;
  /** A progress line on stderr. */
  log(line: string): void;
}

export interface BenchGroup {
  /** Short key (`--only engine,memory`). */
  key: string;
  title: string;
  figures: FigureSpec[];
  /** Longest time the group may take before it is stopped (ms); quick runs get a tenth of it (at least 15 s)... */
  budgetMs: number;
  /** ...or this, for groups whose setup alone takes longer (starting workers, making a venv). */
  quickBudgetMs?: number;
  run(ctx: GroupContext): Promise<void>;
}
