/**
 * Figure group 3: worker cold start. `node dist/handler.mjs` in RunPod worker mode (the job
 * API's URLs point at a local job server that already holds a job), from spawn to the first job
 * taken; beside `node -e 0` and `python -c pass` started at the same time (the floor: the two
 * runtimes' own start).
 */
import { existsSync } from "node:fs";
import type { BenchGroup } from "./lib/figures.ts";
import { HANDLER_BUNDLE, NOOP_JOB, PYTHON, REPO_ROOT } from "./lib/engine-jobs.ts";
import { startBenchJobServer } from "./lib/job-server.ts";
import { exited, spawnTracked, stopProcess } from "./lib/processes.ts";
import { fmt, summarize, withTimeout } from "./lib/stats.ts";

export function workerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, FERRY_PYTHON: PYTHON, ...extra };
}

export const coldStartGroup: BenchGroup = {
  key: "cold-start",
  title: "Worker cold start: spawn of dist/handler.mjs to the first job taken",
  budgetMs: 45_000,
  figures: [
    { id: "cold.first-take", name: "Worker cold start: spawn to first job taken", goal: null },
    { id: "cold.first-done", name: "Worker cold start: spawn to first job done (no-op)", goal: null },
  ],
  async run(ctx) {
    if (!existsSync(HANDLER_BUNDLE)) {
      const reason = "dist/handler.mjs is missing (run `make build`)";
      ctx.skip("cold.first-take", reason);
      ctx.skip("cold.first-done", reason);
      return;
    }
    const server = await startBenchJobServer({ mode: "queue", input: NOOP_JOB, holdMs: 5_000 });
    ctx.cleanup(() => server.close());
    const env = workerEnv(server.env());

    const worker = async () => {
      const jobId = server.enqueue();
      const taken = server.nextTake();
      const done = server.doneOf(jobId);
      const t = performance.now();
      const child = spawnTracked(process.execPath, [HANDLER_BUNDLE], { cwd: REPO_ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr = (stderr + s).slice(-2_000)));
      try {
        const take = await withTimeout(
          Promise.race([taken, exited(child).then(() => Promise.reject(new Error(`the worker exited before taking a job: ${stderr.trim()}`)))]),
          30_000,
          "the worker's first job take",
        );
        const doneAt = await withTimeout(done, 30_000, "the worker's first job");
        return { take: take.at - t, done: doneAt - t };
      } finally {
        await stopProcess(child, 3_000);
      }
    };
    const floor = async () => {
      const t = performance.now();
      const node = spawnTracked(process.execPath, ["-e", "0"], { stdio: "ignore" });
      const python = spawnTracked(PYTHON, ["-c", "pass"], { stdio: "ignore" });
      await Promise.all([exited(node), exited(python)]);
      return performance.now() - t;
    };

    await worker(); // warm the page cache
    await floor();
    const takes: number[] = [];
    const dones: number[] = [];
    const floors: number[] = [];
    const runs = ctx.quick ? 2 : 8;
    for (let i = 0; i < runs; i++) {
      const w = await worker();
      takes.push(w.take);
      dones.push(w.done);
      floors.push(await floor());
    }
    const floorStats = summarize(floors);
    const floorValue = { name: "`node -e 0` + `python -c pass` started in parallel, to both exited", value: floorStats.p50, unit: "ms", stats: floorStats };
    const takeStats = summarize(takes);
    const doneStats = summarize(dones);
    ctx.report("cold.first-take", {
      value: takeStats.p50,
      unit: "ms",
      stats: takeStats,
      floor: floorValue,
      note: `the worker starts its Python child and waits for it to answer before it asks for work; ${fmt(takeStats.p50 - floorStats.p50)} ms (p50) above the bare runtimes.`,
    });
    ctx.report("cold.first-done", {
      value: doneStats.p50,
      unit: "ms",
      stats: doneStats,
      floor: floorValue,
      note: `first job's run and post: ${fmt(doneStats.p50 - takeStats.p50)} ms (p50) after its take.`,
    });
  },
};
