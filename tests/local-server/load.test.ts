/**
 * Load: 2,000 jobs through 4 workers (the protocol test worker, taking two jobs at a time with
 * job-take-batch) while one worker is SIGKILLed holding jobs. Every job must end in a final
 * state exactly once (one webhook per job, none missing), and /health's counts must add up.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { endpointInput, startTestServer, waitUntil, type TestServer } from "./helpers.ts";

const JOBS = 2000;
let t: TestServer;
let hook: Server;
let hookUrl: string;
const webhookCounts = new Map<string, number>();
const webhookStatus = new Map<string, string>();

beforeAll(async () => {
  hook = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const payload = JSON.parse(body) as { id: string; status: string };
      webhookCounts.set(payload.id, (webhookCounts.get(payload.id) ?? 0) + 1);
      webhookStatus.set(payload.id, payload.status);
      res.writeHead(200).end();
    });
  });
  hook.keepAliveTimeout = 10_000;
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/done`;
  t = await startTestServer({ pingIntervalMs: 1000, longPollMs: 2000, persistEndpoints: false });
});
afterAll(async () => {
  await t?.close();
  await new Promise<void>((r) => hook.close(() => r()));
});

it(`${JOBS} jobs, 4 workers, one SIGKILLed mid-run: each job final exactly once, none lost`, { timeout: 240_000 }, async () => {
  const id = t.server.saveEndpoint(
    endpointInput({ workersMin: 4, workersMax: 4, idleTimeout: 60, template: { name: "load", env: [{ key: "TEST_WORKER_BATCH", value: "2" }] } }),
  ).id;
  await waitUntil(async () => (await t.call(`/v2/${id}/health`)).body.workers.idle === 4, 30_000, "four ready workers", 100);

  const started = Date.now();
  const ids: string[] = [];
  let killed: { podId: string; pid: number; held: number } | undefined;
  const submitter = (async () => {
    for (let i = 0; i < JOBS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, JOBS - i) }, (_, k) =>
          t.call(`/v2/${id}/run`, { body: { input: { value: i + k, sleepMs: 2 }, webhook: hookUrl } }),
        ),
      );
      for (const r of batch) {
        expect(r.status).toBe(200);
        ids.push(r.body.id);
      }
    }
  })();

  // Kill a worker while it holds jobs, once the run is well under way.
  await waitUntil(async () => (await t.call(`/v2/${id}/health`)).body.jobs.completed >= 400, 60_000, "400 completed jobs", 50);
  const victim = await waitUntil(() => t.server.workers(id).find((w) => w.state === "running" && w.pid), 10_000, "a busy worker", 1);
  const heldNow = (await t.call(`/v2/${id}/health`)).body.jobs.retried;
  process.kill(victim.pid!, "SIGKILL");
  killed = { podId: victim.podId, pid: victim.pid!, held: heldNow };

  await submitter;
  const final = await waitUntil(async () => {
    const h = (await t.call(`/v2/${id}/health`)).body;
    return h.jobs.completed + h.jobs.failed === JOBS && h.jobs.inQueue === 0 && h.jobs.inProgress === 0 ? h : undefined;
  }, 200_000, "every job to finish", 100);
  const elapsed = Date.now() - started;
  await waitUntil(() => webhookCounts.size === JOBS, 20_000, "every webhook", 50);
  await new Promise((r) => setTimeout(r, 200)); // a duplicate would arrive right behind

  expect(new Set(ids).size).toBe(JOBS);
  expect([...webhookCounts.values()].every((n) => n === 1)).toBe(true);
  expect(ids.every((jobId) => webhookCounts.get(jobId) === 1)).toBe(true);
  expect(ids.every((jobId) => webhookStatus.get(jobId) === "COMPLETED")).toBe(true);

  // The killed worker's jobs went back once and finished elsewhere.
  expect(final.jobs.retried).toBeGreaterThanOrEqual(1);
  expect(final.jobs.retried).toBeLessThanOrEqual(2);
  expect(final.jobs).toMatchObject({ completed: JOBS, failed: 0, inQueue: 0, inProgress: 0 });
  // Every result is the job's own and came from the worker recorded as running it.
  for (let i = 0; i < JOBS; i += 100) {
    const statuses = await Promise.all(ids.slice(i, i + 100).map((jobId) => t.call(`/v2/${id}/status/${jobId}`)));
    statuses.forEach((s, k) => {
      expect(s.body).toMatchObject({ status: "COMPLETED", output: { echo: i + k, worker: s.body.workerId } });
    });
  }
  const dead = t.server.workers(id).find((w) => w.podId === killed!.podId);
  expect(dead).toMatchObject({ state: "exited", signal: "SIGKILL" });
  // A replacement restored the pool.
  await waitUntil(async () => (await t.call(`/v2/${id}/health`)).body.workers.ready === 4, 15_000, "four workers again", 100);
  console.log(`load: ${JOBS} jobs in ${elapsed} ms (${Math.round((JOBS / elapsed) * 1000)} jobs/s), retried ${final.jobs.retried}`);
});
