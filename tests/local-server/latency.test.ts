/**
 * Speed, measured and printed (bounds are loose: the machines running tests are shared):
 * a warm no-op Ferry job through `runsync` beside a bare loopback HTTP round trip (p50 / p99),
 * and throughput with 2 real workers and 16 concurrent clients.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DEFAULT_WORKER_SCRIPT } from "../../sdk/local-server/server.ts";
import { endpointInput, startTestServer, waitUntil, type TestServer } from "./helpers.ts";

const NOOP = { function_name: "noop", function_code: "def noop():\n    return None", serialization_format: "json" };
let t: TestServer;
let id: string;

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const summary = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: +pct(sorted, 50).toFixed(2), p99: +pct(sorted, 99).toFixed(2) };
};

beforeAll(async () => {
  t = await startTestServer({ workerCommand: [process.execPath, DEFAULT_WORKER_SCRIPT], persistEndpoints: false });
  id = t.server.saveEndpoint(endpointInput({ name: "bench", workersMin: 2, workersMax: 2, idleTimeout: 60 })).id;
  await waitUntil(async () => (await t.call(`/v2/${id}/health`)).body.workers.idle === 2, 90_000, "two ready Ferry workers", 200);
}, 120_000);
afterAll(async () => {
  await t?.close();
});

it("warm no-op runsync p50/p99 beside a bare loopback round trip; throughput with 16 clients", { timeout: 120_000 }, async () => {
  const bare = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  await new Promise<void>((r) => bare.listen(0, "127.0.0.1", r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  const N = 100;
  const bareMs: number[] = [];
  for (let i = 0; i < N + 20; i++) {
    const s = performance.now();
    await (await fetch(bareUrl, { method: "POST", body: "{}" })).text();
    if (i >= 20) bareMs.push(performance.now() - s);
  }
  bare.close();

  const jobMs: number[] = [];
  for (let i = 0; i < N + 20; i++) {
    const s = performance.now();
    const r = await t.call(`/v2/${id}/runsync`, { body: { input: NOOP } });
    if (i >= 20) jobMs.push(performance.now() - s);
    expect(r.body.status).toBe("COMPLETED");
  }

  const clients = 16;
  const perClient = 10;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < perClient; i++) expect((await t.call(`/v2/${id}/runsync`, { body: { input: NOOP } })).body.status).toBe("COMPLETED");
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const result = { bare: summary(bareMs), runsync: summary(jobMs), throughputJobsPerS: Math.round((clients * perClient) / seconds) };
  console.log(`latency: ${JSON.stringify(result)}`);
  expect(result.runsync.p50).toBeLessThan(200);
});
