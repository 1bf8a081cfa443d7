/**
 * Large values end to end through remote() on the local default (the local server, its real
 * worker, the real Python child; values over 1 MB as blobs in the server's store): 64 MB each
 * way, the peak memory of the caller and of the worker during a 256 MB round trip, and the
 * worker's memory after 1,000 calls with a 5 MB argument against its idle memory in the same run.
 */
import { readFileSync } from "node:fs";
import type { BenchGroup } from "./lib/figures.ts";
import { startBenchServer } from "./lib/bench-server.ts";
import { childPids, residentKiB } from "./lib/processes.ts";
import { fmt, mibPerSecond, MiB, summarize } from "./lib/stats.ts";

const PY = `
import numpy as np

def nbytes(x):
    return int(x.nbytes)

def make(n):
    return np.arange(n, dtype=np.float32) % 1000

def echo(x):
    return x
`;

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

export const largeValuesSdkGroup: BenchGroup = {
  key: "large-values-sdk",
  title: "Large values end to end: remote() on the local default",
  budgetMs: 150_000,
  quickBudgetMs: 90_000,
  figures: [
    { id: "large.sdk-in.64mb", name: "remote(): 64 MB Float32Array argument into numpy (MB/s)", goal: "≥ 200 MB/s" },
    { id: "large.sdk-out.64mb", name: "remote(): 64 MB numpy result back as a Float32Array (MB/s)", goal: "≥ 200 MB/s" },
    { id: "large.peak-caller.256mb", name: "256 MB round trip: caller's peak memory growth (× the value)", goal: "≤ 3×" },
    { id: "large.peak-worker.256mb", name: "256 MB round trip: worker's peak memory, Node + Python child (× the value)", goal: "≤ 3×" },
    { id: "large.memory-after-5mb-calls", name: "Worker memory after 1,000 calls with a 5 MB argument, over idle (MB)", goal: "≤ 2 × the largest value (10 MB)" },
  ],
  async run(ctx) {
    const sdk = await import("../../sdk/index.ts");
    const { server, stateDir } = await startBenchServer(ctx, "ferry-bench-large-");
    await sdk.configure({ localUrl: server.url, stateDir, quiet: true, onLog: false });
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

    // Idle, then many calls with a 5 MB argument: memory must come back after each.
    await new Promise((r) => setTimeout(r, 500));
    const idleKiB = workerKiB();
    const calls = ctx.quick ? 50 : 1000;
    const five = floats((5 * MiB) / 4);
    for (let i = 0; i < calls; i++) await nbytes(five);
    await new Promise((r) => setTimeout(r, 500));
    const afterKiB = workerKiB();
    const growthMb = (afterKiB - idleKiB) / 1024;
    ctx.report("large.memory-after-5mb-calls", {
      value: growthMb,
      unit: "MB",
      met: growthMb <= 10,
      note: `${calls} calls; worker (Node + Python child) RSS idle ${fmt(idleKiB / 1024)} MB, after ${fmt(afterKiB / 1024)} MB.`,
      limit: "what the worker keeps after the calls: allocator caches in Node and Python, and anything a finished call left alive.",
    });

    // 64 MB each way.
    const size = (ctx.quick ? 8 : 64) * MiB;
    const n = size / 4;
    const array = floats(n);
    const runs = ctx.quick ? 1 : 3;
    const into: number[] = [];
    const back: number[] = [];
    for (let i = 0; i < runs; i++) {
      let t = performance.now();
      if ((await nbytes(array)) !== size) throw new Error("the argument arrived short");
      into.push(performance.now() - t);
      t = performance.now();
      const value = await make(n);
      back.push(performance.now() - t);
      if (value.length !== n || value[n - 1] !== (n - 1) % 1000) throw new Error("the result came back changed");
    }
    const rate = (ms: number[]) => summarize(ms.map((m) => mibPerSecond(size, m)));
    const note = `${size / MiB} MB, best of ${runs}: encode, upload to the local blob store, worker download, the child, and back.`;
    for (const [id, samples] of [["large.sdk-in.64mb", into], ["large.sdk-out.64mb", back]] as const) {
      const r = rate(samples);
      ctx.report(id, { value: r.max, unit: "MB/s", stats: r, met: !ctx.quick && r.max >= 200, note, limit: "each value crosses HTTP twice (caller to store, store to worker) plus the worker's pipes to the child." });
    }

    // A 256 MB round trip: peak memory of both sides as a multiple of the value.
    const bigSize = (ctx.quick ? 16 : 256) * MiB;
    const big = floats(bigSize / 4);
    const callerBefore = process.memoryUsage.rss();
    let callerPeak = callerBefore;
    const sampler = setInterval(() => (callerPeak = Math.max(callerPeak, process.memoryUsage.rss())), 5);
    const echoed = await echo(big);
    callerPeak = Math.max(callerPeak, process.memoryUsage.rss());
    clearInterval(sampler);
    if (echoed.length !== big.length) throw new Error("the 256 MB value came back short");
    const child = pythonPid();
    const workerPeakKiB = peakKiB(workerPid) + (child ? peakKiB(child) : 0);
    const callerX = (callerPeak - callerBefore) / bigSize;
    const workerX = (workerPeakKiB * 1024 - idleKiB * 1024) / bigSize;
    ctx.report("large.peak-caller.256mb", {
      value: callerX,
      unit: "×",
      met: callerX <= 3,
      note: `${bigSize / MiB} MB Float32Array echoed; growth of this process's RSS over the call (sampled every 5 ms), the value itself and its result included.`,
      limit: "the encoded copy, the downloaded bytes and the decoded array are alive together at the end of the call.",
    });
    ctx.report("large.peak-worker.256mb", {
      value: workerX,
      unit: "×",
      met: workerX <= 3,
      note: `peak RSS (VmHWM) of the worker's Node process plus its Python child, less their idle RSS, over ${bigSize / MiB} MB.`,
      limit: "the fetched blob and its frame in Node, the frame body, the ext payload and the array in Python, and the result's way back.",
    });
  },
};
