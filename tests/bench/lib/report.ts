/**
 * The machine a run happened on, and the two files a run writes: BENCHMARKS.md (for people)
 * and bench-results.json (the same, for programs).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { renderChart } from "./chart.ts";
import type { Figure, Floor } from "./figures.ts";
import { fmt, type Summary } from "./stats.ts";

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryMiB: number;
  node: string;
  python: string;
  pythonPath: string;
  platform: string;
  loadAverageAtStart: number[];
  gpu: string | null;
}

function cpuModel(): string {
  const fromOs = cpus()[0]?.model?.trim();
  if (fromOs) return fromOs;
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return match?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function machineInfo(python: string): MachineInfo {
  let version = "unknown";
  try {
    version = execFileSync(python, ["-c", "import platform; print(platform.python_version())"], { encoding: "utf8", timeout: 10_000 }).trim();
  } catch (error) {
    version = `unavailable (${(error as Error).message.split("\n")[0]})`;
  }
  let gpu: string | null = null;
  try {
    gpu = execFileSync("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"], { encoding: "utf8", timeout: 10_000 }).trim() || null;
  } catch {
    gpu = null;
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpuModel(),
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    python: version,
    pythonPath: python,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    gpu,
  };
}

export interface RunReport {
  generatedAt: string;
  mode: "full" | "quick";
  durationMs: number;
  machine: MachineInfo;
  /** Groups that were left out (`--only`). */
  groupsSkipped: string[];
  figures: Figure[];
}

function statsText(s: Summary | null, unit: string): string {
  if (!s || s.n <= 1) return "";
  // A rate is reported as its best run; a time as its p50.
  if (unit.endsWith("/s")) return ` (worst ${fmt(s.min)}, n=${s.n})`;
  return ` (p99 ${fmt(s.p99)}, min ${fmt(s.min)} ${unit}, n=${s.n})`;
}

function floorText(f: Floor): string {
  return `${fmt(f.value)} ${f.unit} — ${f.name}`;
}

function valueCell(f: Figure): string {
  if (f.status !== "measured") return f.status === "unmeasured" ? `unmeasured (${f.reason})` : `not measured: ${f.reason}`;
  const label = f.stats && f.stats.n > 1 && f.unit === "ms" ? "p50 " : "";
  return `${label}${fmt(f.value)} ${f.unit}${statsText(f.stats, f.unit ?? "")}`;
}

function ratioCell(f: Figure): string {
  if (f.ratio === null || !Number.isFinite(f.ratio)) return "—";
  const parts = [`${fmt(f.ratio)}×`];
  for (const other of f.otherFloors) parts.push(`${fmt(other.ratio)}× (${other.name.split(" ")[0]})`);
  return parts.join("<br>");
}

function floorCell(f: Figure): string {
  if (!f.floor) return "—";
  return [f.floor, ...f.otherFloors].map(floorText).join("<br>");
}

function metCell(f: Figure): string {
  if (f.status !== "measured" || f.goal === null || f.met === null) return "—";
  return f.met ? "yes" : "**no**";
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function figureTable(figures: Figure[]): string[] {
  const rows = ["| figure | value | floor | ratio | goal | met? |", "|---|---|---|---|---|---|"];
  for (const f of figures) {
    rows.push(`| ${cell(f.name)} | ${cell(valueCell(f))} | ${cell(floorCell(f))} | ${cell(ratioCell(f))} | ${cell(f.goal ?? "—")} | ${metCell(f)} |`);
  }
  return rows;
}

const README_BEGIN = "<!-- bench:begin -->";
const README_END = "<!-- bench:end -->";

/**
 * Copies the run's table into the README between its bench markers, so the README's figures
 * are never typed by hand. A README without the markers is left alone.
 */
export function updateReadme(report: RunReport, readmePath: string): boolean {
  let text: string;
  try {
    text = readFileSync(readmePath, "utf8");
  } catch {
    return false;
  }
  const begin = text.indexOf(README_BEGIN);
  const end = text.indexOf(README_END);
  if (begin < 0 || end < begin) return false;
  const m = report.machine;
  const block = [
    README_BEGIN,
    `From the run of ${report.generatedAt.slice(0, 10)} on ${m.cores} cores (${m.cpuModel}), Node ${m.node}, Python ${m.python}, GPU: ${m.gpu ?? "none"}.`,
    "",
    ...figureTable(report.figures),
    README_END,
  ].join("\n");
  writeFileSync(readmePath, text.slice(0, begin) + block + text.slice(end + README_END.length));
  return true;
}

export function renderMarkdown(report: RunReport): string {
  const m = report.machine;
  const lines: string[] = [];
  lines.push("# Ferry benchmarks");
  lines.push("");
  lines.push(
    `Written by \`make bench\` (\`node_modules/.bin/tsx tests/bench/run.ts${report.mode === "quick" ? " --quick" : ""}\`) on ${report.generatedAt}; ` +
      "every number below comes from that run. Do not edit by hand: run it again.",
  );
  lines.push("");
  lines.push(
    `**Machine:** ${m.cores} cores, ${m.cpuModel}, ${m.memoryMiB} MiB memory, ${m.platform}; Node ${m.node}; Python ${m.python} (\`${m.pythonPath}\`); ` +
      `GPU: ${m.gpu ?? "none"}. Load average at start: ${m.loadAverageAtStart.join(", ")}. Run took ${fmt(report.durationMs / 1000)} s (${report.mode}).`,
  );
  lines.push("");
  lines.push(
    "Each figure stands beside a floor measured in the same run, on the same machine, so the ratio holds when the machine is noisy. " +
      "Ratio = value / floor: for a time, how many times slower than the floor; for a rate, the fraction of the floor's rate.",
  );
  if (report.mode === "quick") lines.push("\n**Quick run** (`--quick`): smaller sizes (8 MB arrays, a 16 MB repo) and few samples, to prove the runner works; the figures' names give the full run's sizes. Not for comparison.");
  if (report.groupsSkipped.length > 0) lines.push(`\nGroups left out of this run (\`--only\`): ${report.groupsSkipped.join(", ")}.`);
  lines.push("");
  lines.push(`Every figure against its floor as a picture: [${CHART_FILE}](${CHART_FILE}).`);
  lines.push("");
  lines.push(`![Every figure as times its floor's cost](${CHART_FILE})`);
  lines.push("");
  lines.push(...figureTable(report.figures));
  const unmet = report.figures.filter((f) => f.status === "measured" && f.met === false);
  lines.push("");
  lines.push("## Goals not met, and what limits them");
  lines.push("");
  if (unmet.length === 0) lines.push("Every measured figure with a goal met it.");
  for (const f of unmet) lines.push(`- **${f.name}** (goal: ${f.goal}): ${f.limit ?? "no analysis recorded"}${f.note ? ` (${f.note})` : ""}`);
  const notes = report.figures.filter((f) => f.status === "measured" && f.met !== false && (f.limit || f.note));
  if (notes.length > 0) {
    lines.push("");
    lines.push("## Notes on the other figures");
    lines.push("");
    const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
  for (const f of notes) lines.push(`- **${f.name}**: ${[f.note, f.limit].filter((t): t is string => Boolean(t)).map(sentence).join(" ")}`);
  }
  const missing = report.figures.filter((f) => f.status !== "measured");
  if (missing.length > 0) {
    lines.push("");
    lines.push("## Not measured in this run");
    lines.push("");
    for (const f of missing) lines.push(`- **${f.name}**: ${f.reason}`);
  }
  lines.push("");
  return lines.join("\n");
}

/** The chart's file name, beside BENCHMARKS.md. */
export const CHART_FILE = "bench-chart.svg";

export function writeReport(report: RunReport, markdownPath: string, jsonPath: string): void {
  writeFileSync(markdownPath, renderMarkdown(report));
  writeFileSync(join(dirname(markdownPath), CHART_FILE), renderChart(report.figures, `Ferry benchmarks, ${report.generatedAt} (${report.mode})`));
  const json = JSON.stringify(report, (_key, value: unknown) => (typeof value === "number" && !Number.isFinite(value) ? null : value), 2);
  writeFileSync(jsonPath, `${json}\n`);
}

/** The table printed on the terminal. */
export function renderConsoleTable(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    valueCell(f).replace(/<br>/g, "; "),
    f.floor ? `${fmt(f.floor.value)} ${f.floor.unit}` : "—",
    f.ratio === null ? "—" : `${fmt(f.ratio)}×`,
    f.goal ?? "—",
    metCell(f).replace(/\*/g, ""),
  ]);
  const header = ["figure", "value", "floor", "ratio", "goal", "met?"];
  const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const limits = [46, 60, 16, 8, 26, 4];
  const all = [header, ...rows].map((r) => r.map((c, i) => clip(c, limits[i]!)));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(all[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...all.slice(1).map(line)].join("\n");
}
