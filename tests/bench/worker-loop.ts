/**
 * Figure group 4 (issue 3): the worker loop's own overhead. A no-op handler (no Python) run by
 * `startWorker` against a local job server that always has work: jobs per second, and the time
 * per job beside a bare HTTP round trip to the same server (measured in the same run, between
 * the loop's windows so the two never compete).
 */
import { silentLogger } from "../../protocol/logger.ts";
import type { BenchGroup } from "./lib/figures.ts";
import { startBenchJobServer } from "./lib/job-server.ts";
import { fmt, sample, sleep, summarize, withTimeout } from "./lib/stats.ts";

export const workerLoopGroup: BenchGroup = {
  key: "worker-loop",
  title: "Worker loop: no-op jobs/s via startWorker vs bare HTTP round trips",
  budgetMs: 30_000,
  figures: [
    { id: "worker.jobs-per-s", name: "Worker loop throughput, no-op handler, concurrency 1 (jobs/s)", goal: null },
    { id: "worker.per-job", name: "Worker loop time per no-op job", goal: null },
  ],
  async run(ctx) {
    let startWorker: typeof import("../../handler/worker/start-worker.ts").startWorker;
    try {
      ({ startWorker } = await import("../../handler/worker/start-worker.ts"));
    } catch (error) {
      const reason = `handler/worker/start-worker.ts does not load: ${(error as Error).message.split("\n")[0]}`;
      ctx.skip("worker.jobs-per-s", reason);
      ctx.skip("worker.per-job", reason);
      return;
    }
    const server = await startBenchJobServer({ mode: "always", input: { noop: true }, holdMs: 1_000 });
    ctx.cleanup(() => server.close());
    const bareUrl = `${server.url}/bare`;
    const bare = async () => {
      const res = await fetch(bareUrl);
      await res.arrayBuffer();
    };

    // Short windows alternating with the floor's samples, so that both see the same noise.
    const windows = ctx.quick ? 2 : 10;
    const windowMs = ctx.quick ? 400 : 1_000;
    const rates: number[] = [];
    const rtts: number[] = [];
    for (let w = 0; w < windows; w++) {
      rtts.push(...(await sample(bare, { warmup: 10, iterations: ctx.quick ? 100 : 300, budgetMs: 500 })));
      const stop = new AbortController();
      const running = startWorker({
        handler: async () => ({ ok: true }),
        env: server.env(),
        argv: [],
        handleSignals: false,
        stopSignal: stop.signal,
        logger: silentLogger(),
        concurrency: 1,
      });
      ctx.cleanup(() => stop.abort());
      await sleep(150); // warm: connections open, JIT
      const d0 = server.done;
      const t0 = performance.now();
      await sleep(windowMs);
      const d1 = server.done;
      const t1 = performance.now();
      stop.abort();
      const exit = await withTimeout(running, 10_000, "the worker's stop");
      if (exit.mode !== "worker") throw new Error(`startWorker ran in mode ${exit.mode}, not the RunPod worker loop`);
      rates.push(((d1 - d0) / (t1 - t0)) * 1000);
    }
    const rate = summarize(rates);
    const rtt = summarize(rtts);
    const perJob = 1000 / rate.p50;
    const rttFloor = { name: "bare HTTP GET round trip to the same server (fetch, keep-alive)", value: rtt.p50, unit: "ms", stats: rtt };
    ctx.report("worker.jobs-per-s", {
      value: rate.p50,
      unit: "jobs/s",
      stats: rate,
      floor: { name: "a job costing only its two round trips (take + done), 1000 / (2 × bare RTT p50)", value: 1000 / (2 * rtt.p50), unit: "jobs/s" },
      note: `median of ${windows} windows of ${windowMs} ms (job-stop poll and heartbeat running alongside, as in production).`,
    });
    ctx.report("worker.per-job", {
      value: perJob,
      unit: "ms",
      floor: rttFloor,
      note: `1000 / jobs per second. A job needs two requests (take, done): ${fmt(2 * rtt.p50)} ms of bare round trips; the loop adds ${fmt(perJob - 2 * rtt.p50)} ms per job.`,
    });
  },
};
