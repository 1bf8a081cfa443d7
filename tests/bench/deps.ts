/**
 * Figure group 5 (issue 7): checking 30 already-satisfied requirements through
 * `installDependencies` (the Python child's requirement check): the first check (nothing
 * memoized) and the memoized check, beside `python -m pip install` of the same 30 (a no-op:
 * every one "Requirement already satisfied"; `--no-index`, so pip never reaches a network).
 */
import { silentLogger } from "../../protocol/logger.ts";
import type { BenchGroup } from "./lib/figures.ts";
import { startEngine } from "./lib/engine-jobs.ts";
import { timedRun } from "./lib/processes.ts";
import { fmt, sample, summarize } from "./lib/stats.ts";

const COUNT = 30;

type DepsModule = typeof import("../../handler/deps/index.ts");

/** The first 30 distributions installed in the interpreter, pinned with `>=` their installed version. */
async function satisfiedRequirements(python: string): Promise<string[]> {
  const listed = await timedRun(python, ["-m", "pip", "list", "--format=json", "--disable-pip-version-check"], { timeoutMs: 60_000 });
  if (listed.code !== 0) throw new Error(`pip list failed: ${listed.stderr.trim().split("\n").pop()}`);
  const dists = JSON.parse(listed.stdout) as Array<{ name: string; version: string }>;
  if (dists.length < COUNT) throw new Error(`${python} has only ${dists.length} distributions installed; ${COUNT} are needed`);
  return dists
    .sort((a, b) => a.name.localeCompare(b.name))
    .slice(0, COUNT)
    .map((d) => `${d.name}>=${d.version}`);
}

export const depsGroup: BenchGroup = {
  key: "deps",
  title: "Dependencies: checking 30 satisfied requirements vs a pip no-op",
  budgetMs: 45_000,
  figures: [
    { id: "deps.first", name: "30 satisfied requirements: first check (nothing memoized)", goal: "p50 ≤ 20 ms" },
    { id: "deps.memoized", name: "30 satisfied requirements: memoized check", goal: "p50 ≤ 1 ms" },
    { id: "deps.speedup", name: "30 satisfied requirements: pip no-op time / first check p50", goal: "≥ 20×" },
  ],
  async run(ctx) {
    let deps: DepsModule;
    try {
      deps = await import("../../handler/deps/index.ts");
      if (typeof deps.installDependencies !== "function" || typeof deps.clearDependencyMemo !== "function") throw new Error("installDependencies / clearDependencyMemo are not exported");
    } catch (error) {
      const reason = `handler/deps does not load: ${(error as Error).message.split("\n")[0]}`;
      for (const f of depsGroup.figures) ctx.skip(f.id, reason);
      return;
    }
    const engine = await startEngine(ctx);
    const requirements = await satisfiedRequirements(engine.python);
    const request = { dependencies: requirements, system_dependencies: [], accelerate_downloads: false };
    const options = { engine, logger: silentLogger() };
    const check = async () => {
      const report = await deps.installDependencies(request, options);
      if (report.python.installed.length > 0) throw new Error(`the check installed ${report.python.installed.map((p) => p.name).join(", ")}`);
      if (report.python.already_present.length !== COUNT) throw new Error(`${report.python.already_present.length} of ${COUNT} requirements found present`);
      return report;
    };

    deps.clearDependencyMemo();
    const t = performance.now();
    const veryFirst = await check();
    const veryFirstMs = performance.now() - t;
    if (veryFirst.python.memoized) throw new Error("the first check answered from memory");

    const iterations = ctx.quick ? 10 : 100;
    const pythonPart: number[] = [];
    const first = await sample(
      async () => {
        deps.clearDependencyMemo();
        const report = await check();
        if (report.python.memoized) throw new Error("a check after clearDependencyMemo() answered from memory");
        pythonPart.push(report.python.check_ms);
      },
      { warmup: 2, iterations, budgetMs: ctx.quick ? 1_000 : 8_000 },
    );
    await check(); // remembered now
    const memoized = await sample(
      async () => {
        const report = await check();
        if (!report.python.memoized) throw new Error("a repeated check was not memoized");
      },
      { warmup: 10, iterations: ctx.quick ? 100 : 2_000, budgetMs: ctx.quick ? 500 : 3_000 },
    );

    // pip: the same 30, a no-op that must say so for each. `--no-deps`: Ferry's check looks at the
    // named requirements only (and a Debian distribution may name one that pip cannot see).
    const pipArgs = [
      "-m", "pip", "install", "--no-index", "--no-deps", "--disable-pip-version-check", "--no-input", "--root-user-action=ignore",
      "--break-system-packages", // Debian's interpreter is externally managed; nothing is installed (checked below)
      ...requirements,
    ];
    const pipRuns: number[] = [];
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
      const run = await timedRun(engine.python, pipArgs, { timeoutMs: 120_000, env: { ...process.env, PIP_NO_INDEX: "1" } });
      const satisfied = (run.stdout.match(/^Requirement already satisfied/gm) ?? []).length;
      if (run.code !== 0) throw new Error(`pip install (no-op) exited ${run.code}: ${run.stderr.trim().split("\n").pop()}`);
      if (satisfied !== COUNT || /Successfully installed/.test(run.stdout)) {
        throw new Error(`pip's no-op was not one: ${satisfied} of ${COUNT} "Requirement already satisfied"`);
      }
      pipRuns.push(run.ms);
    }
    const pip = summarize(pipRuns);
    const firstStats = summarize(first);
    const memoStats = summarize(memoized);
    const pipFloor = { name: `\`python -m pip install --no-index --no-deps\` of the same ${COUNT} (no-op: all already satisfied)`, value: pip.p50, unit: "ms", stats: pip };
    const speedup = pip.p50 / firstStats.p50;
    const part = summarize(pythonPart);
    ctx.report("deps.first", {
      value: firstStats.p50,
      unit: "ms",
      stats: firstStats,
      floor: pipFloor,
      met: firstStats.p50 <= 20,
      note: `the very first check in a fresh Python child took ${fmt(veryFirstMs)} ms; the requirements are ${COUNT} distributions installed in ${engine.python}.`,
      limit: `of the ${fmt(firstStats.p50)} ms (p50), the check's round trip to the Python child (its report's check_ms) takes ${fmt(part.p50)} ms: reading the installed distributions and evaluating ${COUNT} specifiers with \`packaging\`; the rest is parsing the request in the worker.`,
    });
    ctx.report("deps.memoized", {
      value: memoStats.p50,
      unit: "ms",
      stats: memoStats,
      floor: pipFloor,
      met: memoStats.p50 <= 1,
      limit: "answered in the worker from its memory of satisfied sets: parsing and normalizing the 30 specifiers, no Python.",
    });
    ctx.report("deps.speedup", {
      value: speedup,
      unit: "×",
      met: speedup >= 20,
      note: `pip no-op p50 ${fmt(pip.p50)} ms ÷ first check p50 ${fmt(firstStats.p50)} ms.`,
      limit: `20× needs the first check at or under ${fmt(pip.p50 / 20)} ms (pip's no-op took ${fmt(pip.p50)} ms p50 in this run); it took ${fmt(firstStats.p50)} ms.`,
    });
  },
};
