// Speed of the job loop itself: a no-op handler against a local job server that always has
// work. Prints jobs per second and the time per job beside a bare HTTP round trip to the same
// server; the assertion is loose (shared CI cores), the printed numbers are the benchmark.
import { afterEach, beforeEach, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { startWorker } from "../../handler/worker/start-worker.ts";
import { startFakeRunpodJobServer, type FakeRunpodJobServer } from "../helpers/fake-runpod-job-server.ts";

let server: FakeRunpodJobServer;
beforeEach(async () => {
  server = await startFakeRunpodJobServer({ holdMs: 300 });
});
afterEach(async () => {
  await server.close();
});

it("loop overhead: jobs per second for a no-op handler, and time per job beside a bare round trip", async () => {
  const env = server.env();
  const pingUrl = env.RUNPOD_WEBHOOK_PING!.replace("$RUNPOD_POD_ID", server.podId) + "&runpod_version=bench";
  const bareRoundTripMs = async (n: number) => {
    const t = performance.now();
    for (let i = 0; i < n; i++) await (await fetch(pingUrl, { headers: { Authorization: server.apiKey } })).text();
    return (performance.now() - t) / n;
  };
  await bareRoundTripMs(50);
  const before = await bareRoundTripMs(100);

  const JOBS = 100;
  server.enqueue(...Array.from({ length: JOBS }, (_, i) => ({ id: `bench-${i}`, input: i })));
  const stop = new AbortController();
  const t0 = performance.now();
  const running = startWorker({ handler: async (job) => job.input, argv: [], env, logger: silentLogger(), handleSignals: false, stopSignal: stop.signal });
  await server.waitForResult(`bench-${JOBS - 1}`, 30_000);
  const elapsedMs = performance.now() - t0;
  stop.abort();
  await running;
  // Shared machines are noisy: the faster of two measurements, taken around the run.
  const roundTripMs = Math.min(before, await bareRoundTripMs(100));

  const perJobMs = elapsedMs / JOBS;
  const jobsPerSecond = 1000 / perJobMs;
  // A job costs two exchanges with the server (take, done); the rest is the loop's own work.
  const addedMs = perJobMs - 2 * roundTripMs;
  console.log(
    `worker loop: ${jobsPerSecond.toFixed(0)} jobs/s (concurrency 1, no-op handler); ${perJobMs.toFixed(2)} ms per job; ` +
      `bare round trip ${roundTripMs.toFixed(2)} ms; added per job beyond take + done round trips ${addedMs.toFixed(2)} ms`,
  );
  expect(server.results.size).toBe(JOBS);
  expect(server.violations).toEqual([]);
  expect(jobsPerSecond).toBeGreaterThan(20);
}, 40_000);
