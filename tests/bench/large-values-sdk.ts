/**
 * Large values end to end through remote() on the local default (the local server, its real
 * worker, the real Python child; values over 1 MB as blobs in the server's store): 1, 64 and
 * 256 MB each way, the peak memory of the caller and of the worker during a 256 MB round trip,
 * and the worker's memory after 1,000 calls with a 5 MB argument against its idle memory in the
 * same run. Quick runs measure the same sizes (one sample each) and leave the 1,000 calls out.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { largeValueMallocEnv } from "../../protocol/malloc-env.ts";
import type { BenchGroup } from "./lib/figures.ts";
import { startBenchServer } from "./lib/bench-server.ts";
import { LARGE_VALUE_PY as PY } from "./lib/large-value-code.ts";
import { childPids, residentKiB, timedRun } from "./lib/processes.ts";
import { REPO_ROOT } from "./lib/engine-jobs.ts";
import { fmt, mibPerSecond, MiB, summarize } from "./lib/stats.ts";


/** A full V8 collection, without starting this process with --expose-gc. */
function fullCollection(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** VmHWM (peak resident set) of a process in KiB. */
function peakKiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : 0;
}

function floats(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = i % 1000;
  return out;
}

/** The sizes measured each way, with the goal where it states one. */
const SIZES_MB = [1, 64, 256] as const;
const RATE_GOAL_MB_S = 200;
const rateGoal = (mb: number) => (mb === 64 ? `≥ ${RATE_GOAL_MB_S} MB/s` : null);
const PEAK_MB = 256;
/** The size a caller process of its own measures, started with protocol/malloc-env.ts's settings. */
const HUGE_PAGE_CALLER_MB = 64;
const MEMORY_CALLS = 1000;
const MEMORY_VALUE_MB = 5;
/** Where the memory is also sampled, to tell what settles early from what grows with calls. */
const MEMORY_MIDWAY_CALLS = 300;

export const largeValuesSdkGroup: BenchGroup = {
  key: "large-values-sdk",
  title: "Large values end to end: remote() on the local default",
  budgetMs: 240_000,
  quickBudgetMs: 120_000,
  figures: [
    ...SIZES_MB.flatMap((mb) => [
      { id: `large.sdk-in.${mb}mb`, name: `remote(): ${mb} MB Float32Array argument into numpy (MB/s)`, goal: rateGoal(mb) },
      { id: `large.sdk-out.${mb}mb`, name: `remote(): ${mb} MB numpy result back as a Float32Array (MB/s)`, goal: rateGoal(mb) },
    ]),
    ...(["in", "out"] as const).map((way) => ({
      id: `large.sdk-${way}.${HUGE_PAGE_CALLER_MB}mb-caller-malloc-env`,
      name: `remote(): ${HUGE_PAGE_CALLER_MB} MB ${way === "in" ? "argument" : "result"}, caller started with the workers' glibc settings (MB/s)`,
      goal: null,
    })),
    { id: "large.peak-caller.256mb", name: `${PEAK_MB} MB round trip: caller's peak memory growth (× the value)`, goal: "≤ 3×" },
    { id: "large.peak-worker.256mb", name: `${PEAK_MB} MB round trip: worker's peak memory, Node + Python child (× the value)`, goal: "≤ 3×" },
    {
      id: "large.memory-after-5mb-calls",
      name: `Worker memory after ${MEMORY_CALLS.toLocaleString("en")} calls with a ${MEMORY_VALUE_MB} MB argument, over idle (MB)`,
      goal: `≤ 2 × the largest value (${2 * MEMORY_VALUE_MB} MB)`,
    },
  ],
  async run(ctx) {
    const sdk = await import("../../sdk/index.ts");
    const { server, stateDir } = await startBenchServer(ctx, "ferry-bench-large-");
    await sdk.configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, onProgress: false });
    ctx.cleanup(() => sdk.shutdown());
    const py = sdk.remote(new sdk.LiveServerless({ name: "bench-large", workersMax: 1, idleTimeout: 600 }));
    const nbytes = py.function<[x: Float32Array], number>(PY, "nbytes");
    const make = py.function<[n: number], Float32Array>(PY, "make");
    const echo = py.function<[x: Float32Array], Float32Array>(PY, "echo");
    await nbytes(new Float32Array(4));
    await make(4);

    const workerPid = server.workers()[0]?.pid;
    if (!workerPid) throw new Error("the worker's pid is not known");
    const pythonPid = () => childPids(workerPid).find((pid) => /python/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8")));
    const workerKiB = () => (residentKiB(workerPid) ?? 0) + (residentKiB(pythonPid() ?? -1) ?? 0);

    await new Promise((r) => setTimeout(r, 500));
    const idleKiB = workerKiB();

    /** `runs` calls each way with a `mb` MB value; their median is the figure (on a VM the best of them swings widely from run to run). */
    const throughput = async (mb: number, runs: number): Promise<void> => {
      const size = mb * MiB;
      const n = size / 4;
      const into: number[] = [];
      const back: number[] = [];
      {
        const array = floats(n);
        for (let i = 0; i < runs; i++) {
          const t = performance.now();
          if ((await nbytes(array)) !== size) throw new Error(`the ${mb} MB argument arrived short`);
          into.push(performance.now() - t);
        }
      }
      await make(n); // the array made, untimed
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        const value = await make(n);
        back.push(performance.now() - t);
        if (value.length !== n || value[n - 1] !== (n - 1) % 1000) throw new Error(`the ${mb} MB result came back changed`);
      }
      await make(4); // the kept array dropped, out of the memory figures that follow
      const note = `${mb} MB, median of ${runs}: encode, the call's job through the local server, the value's blob file written and read, the child, and back.`;
      for (const [id, samples] of [[`large.sdk-in.${mb}mb`, into], [`large.sdk-out.${mb}mb`, back]] as const) {
        const r = summarize(samples.map((ms) => mibPerSecond(size, ms)));
        ctx.report(id, {
          value: r.p50,
          unit: "MB/s",
          stats: r,
          ...(rateGoal(mb) ? { met: r.p50 >= RATE_GOAL_MB_S } : {}),
          note,
          limit: "a value crosses no socket: the caller (in the local server's process) and the worker (a process that server started) write and read it as a blob file in the server's folder; an argument reaches the child through the worker's pipe, and a result leaves it as a file the child writes in that folder and the worker renames into its place; fresh memory for an argument is faulted in by the worker and the child (2 MB pages), for a result by the caller (4 KB pages unless its process started with the settings of protocol/malloc-env.ts, the row below).",
        });
      }
    };
    await throughput(1, ctx.quick ? 3 : 20);
    await throughput(64, ctx.quick ? 1 : 5);

    // The same 64 MB from a caller process started with the glibc settings Ferry's workers get:
    // what the caller's own fresh memory costs, which only a process's starting environment sets.
    if (ctx.quick) {
      for (const way of ["in", "out"]) ctx.skip(`large.sdk-${way}.${HUGE_PAGE_CALLER_MB}mb-caller-malloc-env`, "quick run");
    } else {
      const script = join(REPO_ROOT, "tests/bench/lib/large-value-caller.ts");
      const run = await timedRun(process.execPath, ["--import", "tsx", script, String(HUGE_PAGE_CALLER_MB), "5"], {
        cwd: REPO_ROOT,
        env: { ...process.env, ...largeValueMallocEnv(process.env) },
        timeoutMs: 120_000,
      });
      const line = run.stdout.trim().split("\n").pop() ?? "";
      if (run.code !== 0 || !line.startsWith("{")) throw new Error(`the caller process failed (exit ${run.code}): ${run.stderr.slice(-500)}`);
      const { intoMs, backMs } = JSON.parse(line) as { intoMs: number[]; backMs: number[] };
      const size = HUGE_PAGE_CALLER_MB * MiB;
      for (const [way, samples] of [["in", intoMs], ["out", backMs]] as const) {
        const r = summarize(samples.map((ms) => mibPerSecond(size, ms)));
        ctx.report(`large.sdk-${way}.${HUGE_PAGE_CALLER_MB}mb-caller-malloc-env`, {
          value: r.p50,
          unit: "MB/s",
          stats: r,
          note: `median of ${samples.length}, in a caller process of its own (its own local server) started with ${Object.entries(largeValueMallocEnv({})).map(([k, v]) => `${k}=${v}`).join(" ")}.`,
          limit: "as above, with the caller's fresh memory faulted in on 2 MB pages.",
        });
      }
    }

    // A 256 MB round trip: peak memory of both sides as a multiple of the value.
    const bigSize = PEAK_MB * MiB;
    {
      const big = floats(bigSize / 4);
      // Earlier calls' dead arrays collected first: freed during the call, they would hide its growth.
      fullCollection();
      const callerBefore = process.memoryUsage.rss();
      let callerPeak = callerBefore;
      const sampler = setInterval(() => (callerPeak = Math.max(callerPeak, process.memoryUsage.rss())), 5);
      const echoed = await echo(big);
      callerPeak = Math.max(callerPeak, process.memoryUsage.rss());
      clearInterval(sampler);
      if (echoed.length !== big.length || echoed[big.length - 1] !== big[big.length - 1]) throw new Error(`the ${PEAK_MB} MB value came back changed`);
      const child = pythonPid();
      const workerPeakKiB = peakKiB(workerPid) + (child ? peakKiB(child) : 0);
      const callerX = (callerPeak - callerBefore) / bigSize;
      const workerX = (workerPeakKiB * 1024 - idleKiB * 1024) / bigSize;
      ctx.report("large.peak-caller.256mb", {
        value: callerX,
        unit: "×",
        met: callerX <= 3,
        note: `${PEAK_MB} MB Float32Array echoed; growth of this process's RSS over the call (sampled every 5 ms), the value itself and its result included.`,
        limit: "the downloaded blob, which the decoded array is a view of (the argument is sent from its own memory, with no encoded copy).",
      });
      ctx.report("large.peak-worker.256mb", {
        value: workerX,
        unit: "×",
        met: workerX <= 3,
        note: `peak RSS (VmHWM) of the worker's Node process plus its Python child since they started, less their idle RSS, over ${PEAK_MB} MB.`,
        limit: "the fetched blob and its frame in Node, the frame body, the ext payload and the array in Python, and the result's way back.",
      });
    }
    await throughput(PEAK_MB, 1);

    // Last, on a worker of its own (one that has moved no large value yet), so that a budget
    // spent by a loaded machine costs this figure only: idle, then many calls with a 5 MB
    // argument; memory must come back after each.
    if (ctx.quick) {
      ctx.skip("large.memory-after-5mb-calls", `a quick run leaves out the ${MEMORY_CALLS.toLocaleString("en")} calls (make bench measures them)`);
      return;
    }
    const fresh = sdk.remote(new sdk.LiveServerless({ name: "bench-large-memory", workersMax: 1, idleTimeout: 600 })).function<[x: Float32Array], number>(PY, "nbytes");
    await fresh(new Float32Array(4));
    const freshPid = server.workers().find((w) => w.pid !== workerPid)?.pid;
    if (!freshPid) throw new Error("the second worker's pid is not known");
    const freshChildPid = childPids(freshPid).find((pid) => /python/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8")));
    if (!freshChildPid) throw new Error("the second worker's Python child is not known");
    /** Node + Python child RSS in KiB, of the same two processes each time: one replaced mid-run would make the figure meaningless. */
    const freshKiB = (): number => {
      const node = residentKiB(freshPid);
      const child = residentKiB(freshChildPid);
      if (node === null || child === null) throw new Error(`the measured ${node === null ? "worker" : "Python child"} ended during the calls (the server replaced it), so there is nothing to compare with its idle memory`);
      return node + child;
    };
    const settle = () => new Promise((r) => setTimeout(r, 500));
    await settle();
    const freshIdleKiB = freshKiB();
    const five = floats((MEMORY_VALUE_MB * MiB) / 4);
    let callMs = 0;
    const calls = async (n: number): Promise<void> => {
      const started = performance.now();
      for (let i = 0; i < n; i++) await fresh(five);
      callMs += performance.now() - started;
    };
    await calls(MEMORY_MIDWAY_CALLS);
    await settle();
    const midwayKiB = freshKiB();
    await calls(MEMORY_CALLS - MEMORY_MIDWAY_CALLS);
    await settle();
    const afterKiB = freshKiB();
    const growthMb = (afterKiB - freshIdleKiB) / 1024;
    const mb = (kib: number) => fmt(kib / 1024);
    ctx.report("large.memory-after-5mb-calls", {
      value: growthMb,
      unit: "MB",
      met: growthMb <= 2 * MEMORY_VALUE_MB,
      note: `${MEMORY_CALLS} calls in ${fmt(callMs / 1000)} s; worker (Node + Python child) RSS idle ${mb(freshIdleKiB)} MB, after ${MEMORY_MIDWAY_CALLS} calls ${mb(midwayKiB)} MB, after ${MEMORY_CALLS} ${mb(afterKiB)} MB (the growth from call ${MEMORY_MIDWAY_CALLS} on is what grows with calls).`,
      limit:
        "what the worker keeps after the calls: Node's heap settling at its working size (compiled code, old space), mostly within the first calls; the worker reads each argument from its blob file straight into the value's buffer, so its C heap and the Python child stay flat.",
    });
  },
};
