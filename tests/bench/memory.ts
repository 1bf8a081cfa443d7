/**
 * Figure group 10: resident size of an idle worker: `node dist/handler.mjs` in RunPod worker
 * mode, waiting on an empty job server, plus its Python child (VmRSS of both, from
 * /proc/<pid>/status), beside an idle bare `node` plus an idle bare Python.
 */
import { existsSync } from "node:fs";
import type { BenchGroup } from "./lib/figures.ts";
import { HANDLER_BUNDLE, PYTHON, REPO_ROOT } from "./lib/engine-jobs.ts";
import { startBenchJobServer } from "./lib/job-server.ts";
import { childPids, residentKiB, spawnTracked, stopProcess } from "./lib/processes.ts";
import { fmt, sleep, withTimeout } from "./lib/stats.ts";
import { workerEnv } from "./cold-start.ts";

export const memoryGroup: BenchGroup = {
  key: "memory",
  title: "Memory: resident size of an idle worker (Node + Python child)",
  budgetMs: 30_000,
  figures: [{ id: "memory.idle-worker", name: "Idle worker resident size (Node + Python child, VmRSS)", goal: null }],
  async run(ctx) {
    if (!existsSync(HANDLER_BUNDLE)) {
      ctx.skip("memory.idle-worker", "dist/handler.mjs is missing (run `make build`)");
      return;
    }
    const server = await startBenchJobServer({ mode: "queue", holdMs: 30_000 });
    ctx.cleanup(() => server.close());
    const worker = spawnTracked(process.execPath, [HANDLER_BUNDLE], { cwd: REPO_ROOT, env: workerEnv(server.env()), stdio: "ignore" });
    ctx.cleanup(() => stopProcess(worker, 3_000));
    // Idle: it has asked for work (so its Python child is up) and is waiting on the long poll.
    await withTimeout(
      (async () => {
        while (!server.takeRequests) await sleep(50);
      })(),
      30_000,
      "the worker's first job take",
    );
    await sleep(ctx.quick ? 300 : 2_000);
    const nodePid = worker.pid!;
    const pythons = childPids(nodePid).filter((pid) => residentKiB(pid) !== null);
    if (pythons.length !== 1) throw new Error(`expected one Python child of the worker, found ${pythons.length}`);
    const nodeKiB = residentKiB(nodePid);
    const pythonKiB = residentKiB(pythons[0]!);
    if (nodeKiB === null || pythonKiB === null) throw new Error("the worker exited while idle");

    const bareNode = spawnTracked(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    const barePython = spawnTracked(PYTHON, ["-c", "import time; time.sleep(60)"], { stdio: "ignore" });
    ctx.cleanup(() => stopProcess(bareNode, 1_000));
    ctx.cleanup(() => stopProcess(barePython, 1_000));
    await sleep(ctx.quick ? 300 : 1_000);
    const bareNodeKiB = residentKiB(bareNode.pid!);
    const barePythonKiB = residentKiB(barePython.pid!);
    if (bareNodeKiB === null || barePythonKiB === null) throw new Error("a bare runtime exited early");
    await Promise.all([stopProcess(bareNode, 1_000), stopProcess(barePython, 1_000)]);

    const mib = (kib: number) => kib / 1024;
    ctx.report("memory.idle-worker", {
      value: mib(nodeKiB + pythonKiB),
      unit: "MiB",
      floor: { name: "idle bare `node` + idle bare `python` (sleeping)", value: mib(bareNodeKiB + barePythonKiB), unit: "MiB" },
      note: `Node ${fmt(mib(nodeKiB))} MiB + Python child ${fmt(mib(pythonKiB))} MiB; bare node ${fmt(mib(bareNodeKiB))} MiB, bare Python ${fmt(mib(barePythonKiB))} MiB.`,
    });
  },
};
