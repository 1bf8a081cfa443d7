/**
 * `make bench`: every performance figure beside its floor, in one run, written to BENCHMARKS.md
 * and bench-results.json at the repository root.
 *
 *   node_modules/.bin/tsx tests/bench/run.ts [--quick] [--only engine,memory] [--out-dir DIR]
 *
 * Groups run one after another (never two at once: they would measure each other), each
 * bounded by its own time budget; whatever a group started is stopped when it ends, fails or
 * runs out of time. A figure whose module is missing or fails is reported as not measured, with
 * the reason, never as a number.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { measuredFigure, unmeasuredFigure, type BenchGroup, type Figure, type GroupContext } from "./lib/figures.ts";
import { killAllTrackedSync, stopAllTracked, trackedCount } from "./lib/processes.ts";
import { machineInfo, renderConsoleTable, updateReadme, writeReport, type RunReport } from "./lib/report.ts";
import { withTimeout } from "./lib/stats.ts";
import { REPO_ROOT } from "./lib/engine-jobs.ts";
import { engineGroup } from "./engine.ts";
import { largeValuesGroup } from "./large-values.ts";
import { largeValuesSdkGroup } from "./large-values-sdk.ts";
import { coldStartGroup } from "./cold-start.ts";
import { workerLoopGroup } from "./worker-loop.ts";
import { depsGroup } from "./deps.ts";
import { hfGroup } from "./hf.ts";
import { localEndpointGroup } from "./local-endpoint.ts";
import { sdkGroup } from "./sdk.ts";
import { liveLogsGroup } from "./live-logs.ts";
import { cancellationGroup } from "./cancellation.ts";
import { memoryGroup } from "./memory.ts";
import { gpuGroup } from "./gpu.ts";
import { startupGroup } from "./startup.ts";

/** The whole run stays under 10 minutes: groups that would start past this get no time. */
const RUN_BUDGET_MS = 9 * 60_000;

export const GROUPS: BenchGroup[] = [
  engineGroup,
  largeValuesGroup,
  largeValuesSdkGroup,
  coldStartGroup,
  workerLoopGroup,
  depsGroup,
  hfGroup,
  localEndpointGroup,
  sdkGroup,
  liveLogsGroup,
  cancellationGroup,
  memoryGroup,
  startupGroup,
  gpuGroup,
];

interface Args {
  quick: boolean;
  only: string[] | null;
  outDir: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: null, outDir: REPO_ROOT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") args.quick = true;
    else if (a === "--only") args.only = (argv[++i] ?? "").split(",").filter(Boolean);
    else if (a.startsWith("--only=")) args.only = a.slice(7).split(",").filter(Boolean);
    else if (a === "--out-dir") args.outDir = resolve(argv[++i] ?? ".");
    else if (a.startsWith("--out-dir=")) args.outDir = resolve(a.slice(10));
    else if (a === "--help" || a === "-h") {
      process.stdout.write(`usage: tsx tests/bench/run.ts [--quick] [--only ${GROUPS.map((g) => g.key).join(",")}] [--out-dir DIR]\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (args.only) {
    const unknown = args.only.filter((k) => !GROUPS.some((g) => g.key === k));
    if (unknown.length > 0) throw new Error(`unknown group(s) ${unknown.join(", ")}; groups: ${GROUPS.map((g) => g.key).join(", ")}`);
  }
  return args;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

export async function runGroup(group: BenchGroup, quick: boolean, timeLeftMs = Infinity): Promise<Figure[]> {
  const reported = new Map<string, Figure>();
  const cleanups: Array<() => unknown> = [];
  const specOf = (id: string) => {
    const spec = group.figures.find((f) => f.id === id);
    if (!spec) throw new Error(`group ${group.key} reported an undeclared figure ${id}`);
    return spec;
  };
  const ctx: GroupContext = {
    quick,
    report: (id, m) => {
      reported.set(id, measuredFigure(group.key, specOf(id), m));
    },
    skip: (id, reason, status = "not-measured") => {
      reported.set(id, unmeasuredFigure(group.key, specOf(id), status, reason));
    },
    cleanup: (fn) => cleanups.push(fn),
    log: (line) => log(`  [${group.key}] ${line}`),
  };
  const budgetMs = Math.min(timeLeftMs, quick ? (group.quickBudgetMs ?? Math.max(15_000, group.budgetMs / 10)) : group.budgetMs);
  if (budgetMs < 5_000) {
    return group.figures.map((spec) => unmeasuredFigure(group.key, spec, "not-measured", "the run's 10-minute budget was spent before this group"));
  }
  const started = performance.now();
  log(`▶ ${group.title} (budget ${Math.round(budgetMs / 1000)} s)`);
  let failure: string | null = null;
  try {
    await withTimeout(group.run(ctx), budgetMs, `the ${group.key} group`);
  } catch (error) {
    failure = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    log(`  [${group.key}] failed: ${failure}`);
  } finally {
    for (const fn of cleanups.reverse()) {
      try {
        await withTimeout(Promise.resolve().then(fn), 15_000, `a cleanup of ${group.key}`);
      } catch (error) {
        log(`  [${group.key}] cleanup failed: ${(error as Error).message}`);
      }
    }
    if (trackedCount() > 0) await stopAllTracked();
  }
  log(`  [${group.key}] ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return group.figures.map(
    (spec) => reported.get(spec.id) ?? unmeasuredFigure(group.key, spec, "not-measured", failure ?? "the group ended without measuring it"),
  );
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const python = runnerPython(process.env, REPO_ROOT);
  const machine = machineInfo(python);
  log(`Ferry benchmarks (${args.quick ? "quick" : "full"}): ${machine.cores} cores, ${machine.cpuModel}, Node ${machine.node}, Python ${machine.python}`);
  const figures: Figure[] = [];
  const skipped: string[] = [];
  for (const group of GROUPS) {
    if (args.only && !args.only.includes(group.key)) {
      skipped.push(group.key);
      continue;
    }
    figures.push(...(await runGroup(group, args.quick, RUN_BUDGET_MS - (performance.now() - started))));
  }
  const report: RunReport = {
    generatedAt: new Date().toISOString(),
    mode: args.quick ? "quick" : "full",
    durationMs: Math.round(performance.now() - started),
    machine,
    groupsSkipped: skipped,
    figures,
  };
  const md = resolve(args.outDir, "BENCHMARKS.md");
  const json = resolve(args.outDir, "bench-results.json");
  mkdirSync(args.outDir, { recursive: true });
  writeReport(report, md, json);
  // The README quotes full runs written to the repository root only.
  if (!args.quick && resolve(args.outDir) === REPO_ROOT && updateReadme(report, resolve(REPO_ROOT, "README.md"))) log("README.md: performance table updated");
  process.stdout.write(`\n${renderConsoleTable(figures)}\n\nWrote ${md} and ${json} in ${(report.durationMs / 1000).toFixed(1)} s.\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.on("exit", killAllTrackedSync);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping every process this run started`);
      killAllTrackedSync();
      process.exit(130);
    });
  }
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      killAllTrackedSync();
      process.exit(1);
    },
  );
}
