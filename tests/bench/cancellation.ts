/**
 * Figure group 9 (issue 6): cancellation and crash recovery, through the engine.
 * - cooperative cancel: a call in a pure-Python loop, interrupted; cancel request -> final answer.
 * - blocking call: a call blocked in `time.sleep` on the child's main thread, which the
 *   interrupt's SIGINT breaks; the child and its instances live on.
 * - stuck call: a call the interrupt cannot reach (standing for C code that never returns to
 *   Python: `time.sleep` with SIGINT blocked): the engine waits its grace period, kills the child
 *   and answers; reported with the grace used, and without it (the kill path itself).
 * - crash: `os._exit(1)` in user code; from the engine seeing the child die to the next job's
 *   user code running in the replacement child.
 */
import type { EngineJob, PythonEngine } from "../../handler/engine/python-engine.ts";
import { parseFunctionRequest } from "../../protocol/wire.ts";
import type { BenchGroup } from "./lib/figures.ts";
import { jsonJob, startEngine } from "./lib/engine-jobs.ts";
import { fmt, sample, summarize, withTimeout } from "./lib/stats.ts";

const GRACE_MS = 500;

function engineJob(input: Record<string, unknown>): EngineJob {
  const parsed = parseFunctionRequest(input);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.request as unknown as EngineJob;
}

/** Starts a call that prints "started" first; resolves when that line has arrived, with the call's outcome promise. */
async function startedCall(engine: PythonEngine, job: EngineJob, signal: AbortSignal) {
  let onStarted!: () => void;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const outcome = engine.call(job, { signal, onLog: (l) => l.line === "started" && onStarted() });
  await withTimeout(Promise.race([started, outcome.then((o) => Promise.reject(new Error(`the call ended before it started: ${o.error_type} ${o.error}`)))]), 10_000, "the call's start");
  return { outcome }; // wrapped: an async function would otherwise wait for the call to end
}

export const cancellationGroup: BenchGroup = {
  key: "cancellation",
  title: "Cancellation and crash recovery",
  budgetMs: 45_000,
  figures: [
    { id: "cancel.cooperative", name: "Cancel to final answer: cooperative call (interrupt)", goal: null },
    { id: "cancel.blocking", name: "Cancel to final answer: call blocked in time.sleep (interrupt)", goal: "p50 ≤ 100 ms" },
    { id: "cancel.stuck", name: `Cancel to final answer: call stuck in C (kill + new child, grace ${GRACE_MS} ms)`, goal: null },
    { id: "cancel.stuck-kill", name: "Cancel of a stuck call: the kill path, excluding the grace", goal: null },
    { id: "crash.recovery", name: "Child death (os._exit) to the next job running", goal: null },
  ],
  async run(ctx) {
    const engine = await startEngine(ctx, { cancelGraceMs: GRACE_MS });
    const loop = engineJob(jsonJob("def f():\n    print('started', flush=True)\n    while True:\n        pass"));
    const blocking = engineJob(jsonJob("import time\ndef f():\n    print('started', flush=True)\n    time.sleep(3600)"));
    const stuck = engineJob(
      jsonJob("import signal, time\ndef f():\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n    print('started', flush=True)\n    time.sleep(3600)"),
    );
    const crash = engineJob(jsonJob("import os\ndef f():\n    os._exit(1)"));
    const marker = engineJob(jsonJob("def f():\n    print('started', flush=True)\n    return 1"));
    const echoStats = summarize(await sample(() => engine.echo({}), { warmup: 20, iterations: 200, budgetMs: 500 }));

    const cancelOnce = async (job: EngineJob, expectKill: boolean) => {
      const controller = new AbortController();
      const { outcome } = await startedCall(engine, job, controller.signal);
      const t = performance.now();
      controller.abort();
      const result = await withTimeout(outcome, GRACE_MS + 15_000, "the cancelled call's answer");
      const ms = performance.now() - t;
      if (result.error_type !== "Cancelled") throw new Error(`a cancelled call answered ${result.error_type}: ${result.error}`);
      const killed = Boolean((result.details as Record<string, unknown> | undefined)?.child_killed);
      if (killed !== expectKill) throw new Error(expectKill ? "the stuck call was answered without a kill" : "the cooperative call needed a kill");
      return ms;
    };

    await engine.call(marker);
    const switchInterval = await engine.call(engineJob(jsonJob("import sys\ndef f():\n    return sys.getswitchinterval() * 1000")));
    const switchMs = switchInterval.success ? Number(switchInterval.json_result) : Number.NaN;
    const cooperative: number[] = [];
    for (let i = 0; i < (ctx.quick ? 3 : 12); i++) cooperative.push(await cancelOnce(loop, false));
    const coop = summarize(cooperative);
    ctx.report("cancel.cooperative", {
      value: coop.p50,
      unit: "ms",
      stats: coop,
      floor: { name: "bare MessagePack echo over the same pipes", value: echoStats.p50, unit: "ms", stats: echoStats },
      note:
        "SIGINT to the child's main thread, where the call runs; its handler raises KeyboardInterrupt at the next bytecode; the call answers Cancelled and the child lives on. " +
        `The busy call holds the GIL, so the child's reader thread gets to the cancel frame only at a GIL switch (the child's switch interval: ${fmt(switchMs)} ms).`,
    });

    const blockingTimes: number[] = [];
    for (let i = 0; i < (ctx.quick ? 3 : 12); i++) blockingTimes.push(await cancelOnce(blocking, false));
    const blocked = summarize(blockingTimes);
    ctx.report("cancel.blocking", {
      value: blocked.p50,
      unit: "ms",
      stats: blocked,
      met: blocked.p50 <= 100,
      floor: { name: "bare MessagePack echo over the same pipes", value: echoStats.p50, unit: "ms", stats: echoStats },
      note: "synchronous calls run on the child's main thread; the cancel sends it SIGINT, whose handler raises KeyboardInterrupt inside the blocked call. No kill, no new child.",
    });

    const stuckTimes: number[] = [];
    const nextReady: number[] = [];
    for (let i = 0; i < (ctx.quick ? 1 : 4); i++) {
      stuckTimes.push(await cancelOnce(stuck, true));
      const t = performance.now();
      await engine.call(marker); // the replacement child answering
      nextReady.push(performance.now() - t);
    }
    const stuckStats = summarize(stuckTimes);
    const killStats = summarize(stuckTimes.map((ms) => ms - GRACE_MS));
    const readyStats = summarize(nextReady);
    ctx.report("cancel.stuck", {
      value: stuckStats.p50,
      unit: "ms",
      stats: stuckStats,
      floor: { name: "the grace period the engine waits before the kill (cancelGraceMs)", value: GRACE_MS, unit: "ms" },
      note: `after the answer, the next call on the replacement child took ${fmt(readyStats.p50)} ms (p50).`,
    });
    ctx.report("cancel.stuck-kill", {
      value: killStats.p50,
      unit: "ms",
      stats: killStats,
      floor: { name: "bare MessagePack echo over the same pipes", value: echoStats.p50, unit: "ms", stats: echoStats },
      note: "time to answer minus the grace: SIGKILL, the child's exit seen by the engine, the call answered.",
    });

    const recoveries: number[] = [];
    const crashAnswer: number[] = [];
    for (let i = 0; i < (ctx.quick ? 2 : 6); i++) {
      let diedAt = 0;
      const onExit = () => (diedAt = performance.now());
      engine.once("child-exit", onExit);
      const t = performance.now();
      const result = await withTimeout(engine.call(crash), 15_000, "the crashing call's answer");
      crashAnswer.push(performance.now() - t);
      if (result.error_type !== "WorkerProcessDied") throw new Error(`a crashing call answered ${result.error_type}`);
      if (!diedAt) throw new Error("the engine reported no child exit");
      const { outcome } = await startedCall(engine, marker, new AbortController().signal);
      recoveries.push(performance.now() - diedAt);
      await outcome;
    }
    const recovery = summarize(recoveries);
    ctx.report("crash.recovery", {
      value: recovery.p50,
      unit: "ms",
      stats: recovery,
      floor: await pythonStartFloor(engine, ctx.quick ? 2 : 5),
      note: `the engine starts the replacement child as soon as the old one is seen to exit; the crashing call itself answered WorkerProcessDied in ${fmt(summarize(crashAnswer).p50)} ms (p50).`,
    });
  },
};

/** `python -c "import msgpack, cloudpickle"`, from spawn to exit: what any new child pays before it can run a job. */
async function pythonStartFloor(engine: PythonEngine, runs: number) {
  const { timedRun } = await import("./lib/processes.ts");
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push((await timedRun(engine.python, ["-c", "import msgpack, cloudpickle"])).ms);
  const stats = summarize(samples);
  return { name: "`python -c 'import msgpack, cloudpickle'` to exit (the runner's own imports)", value: stats.p50, unit: "ms", stats };
}
