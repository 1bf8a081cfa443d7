/**
 * Live logs (issue 21): from a Python `print` to the caller's `onLog`, through the whole local
 * path (Python child, worker, local server `/stream`, SDK), for the first line of a call and for
 * a line 2 s into it. The line carries the wall-clock time of its print; the handler subtracts
 * it from its own clock (one machine, one clock). Floor: the same print read from a Python
 * process's stdout pipe by Node directly. Beside them: a warm no-op call watched (`/run`,
 * `/stream`, `/status`) against the same call unwatched (`/runsync`), the price of following.
 */
import { spawn } from "node:child_process";
import type { BenchGroup } from "./lib/figures.ts";
import { startBenchServer } from "./lib/bench-server.ts";
import { PYTHON } from "./lib/engine-jobs.ts";
import { fmt, samplePair, summarize } from "./lib/stats.ts";

const GOAL_MS = 100;
const nowMs = () => performance.timeOrigin + performance.now();

const CODE = `
import time

def first(i):
    print(f"t={time.time() * 1000:.3f}")
    return i

def later(delay):
    print(f"t={time.time() * 1000:.3f}")
    time.sleep(delay)
    print(f"t={time.time() * 1000:.3f}")
    return None

def noop():
    return None
`;

/** Latencies of lines a Python process prints, read by Node from its stdout pipe. */
function pipeFloor(lines: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const script = `import time\nfor _ in range(${lines}):\n    print(f"t={time.time() * 1000:.3f}", flush=True)\n    time.sleep(0.02)\n`;
    const child = spawn(PYTHON, ["-u", "-c", script], { stdio: ["ignore", "pipe", "inherit"] });
    const samples: number[] = [];
    let buffer = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const at = nowMs();
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const printed = Number(line.slice(2));
        if (Number.isFinite(printed)) samples.push(at - printed);
      }
    });
    child.on("error", reject);
    child.on("close", () => resolve(samples));
  });
}

export const liveLogsGroup: BenchGroup = {
  key: "live-logs",
  title: "Live logs: Python print to onLog, first line and 2 s in",
  budgetMs: 90_000,
  quickBudgetMs: 40_000,
  figures: [
    { id: "logs.first-line", name: "Live log: print to onLog, first line of a call (local)", goal: `p50 ≤ ${GOAL_MS} ms` },
    { id: "logs.later-line", name: "Live log: print to onLog, a line 2 s into a call (local)", goal: `p50 ≤ ${GOAL_MS} ms` },
    { id: "logs.watched-call", name: "Warm no-op call followed live (/run + /stream + /status) vs /runsync", goal: null },
  ],
  async run(ctx) {
    const sdk = await import("../../sdk/index.ts");
    const { server, stateDir } = await startBenchServer(ctx, "ferry-bench-logs-");
    await sdk.configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, onProgress: false });
    ctx.cleanup(() => sdk.configure({ quiet: true }));

    const py = sdk.remote(new sdk.LiveServerless({ name: "ferry-bench-logs", workersMin: 0, workersMax: 1, idleTimeout: 600 }));
    let samples: number[] = [];
    const onLog = (line: { line: string }) => {
      const printed = Number(line.line.slice(2));
      if (line.line.startsWith("t=") && Number.isFinite(printed)) samples.push(nowMs() - printed);
    };
    const first = py.function<[i: number], number>(CODE, "first").with({ onLog });
    const later = py.function<[delay: number], null>(CODE, "later").with({ onLog });
    await first(0); // provisions the endpoint and starts the worker

    const floor = summarize(await pipeFloor(ctx.quick ? 20 : 100));
    const floorOf = (name: string) => ({ name, value: floor.p50, unit: "ms", stats: floor });

    samples = [];
    for (let i = 0; i < (ctx.quick ? 20 : 100); i++) await first(i);
    const firstStats = summarize(samples);
    ctx.report("logs.first-line", {
      value: firstStats.p50,
      unit: "ms",
      stats: firstStats,
      floor: floorOf("the same print read from a Python stdout pipe by Node"),
      met: firstStats.p50 <= GOAL_MS,
      note: `${firstStats.n} calls, one line each; p99 ${fmt(firstStats.p99)} ms.`,
      limit: `the line crosses the child's pipe, the worker's stream post, the server's held /stream and the SDK: ${fmt(firstStats.p50)} ms at p50.`,
    });

    const laterSamples: number[] = [];
    for (let i = 0; i < (ctx.quick ? 3 : 12); i++) {
      samples = [];
      await later(2);
      if (samples.length === 2) laterSamples.push(samples[1]!);
    }
    const laterStats = summarize(laterSamples);
    ctx.report("logs.later-line", {
      value: laterStats.p50,
      unit: "ms",
      stats: laterStats,
      floor: floorOf("the same print read from a Python stdout pipe by Node"),
      met: laterStats.p50 <= GOAL_MS,
      note: `${laterStats.n} calls, the line printed 2 s after the first; p99 ${fmt(laterStats.p99)} ms.`,
      limit: `a held /stream answers when the line arrives: ${fmt(laterStats.p50)} ms at p50.`,
    });

    const watched = py.function<[], null>(CODE, "noop").with({ onLog: () => undefined });
    const unwatched = py.function<[], null>(CODE, "noop");
    const pair = await samplePair(
      async () => void (await watched()),
      async () => void (await unwatched()),
      { warmup: 10, iterations: ctx.quick ? 30 : 200, budgetMs: ctx.quick ? 3_000 : 15_000 },
    );
    const w = summarize(pair.a);
    const u = summarize(pair.b);
    ctx.report("logs.watched-call", {
      value: w.p50,
      unit: "ms",
      stats: w,
      floor: { name: "the same call unwatched (/runsync, one round trip)", value: u.p50, unit: "ms", stats: u },
      note: `following a call live costs ${fmt(w.p50 - u.p50)} ms at p50 on a warm no-op (two more round trips).`,
    });
  },
};
