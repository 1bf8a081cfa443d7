/**
 * Worker processes: RunPod's environment given to each, output kept per worker, scale up by
 * queue depth and down after idleTimeout (seen through /health), crashes, refresh, restarts.
 * Workers are the protocol-speaking test worker (tests/local-server/fixtures/protocol-worker.ts).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { WorkerOutputLine } from "../../sdk/local-server/workers.ts";
import { endpointInput, startTestServer, waitUntil, type TestServer } from "./helpers.ts";

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const health = async (s: TestServer, id: string) => (await s.call(`/v2/${id}/health`)).body;
const total = (h: { workers: { initializing: number; ready: number } }) => h.workers.initializing + h.workers.ready;

describe("worker processes", () => {
  it("get RunPod's environment, the template env and their own venv; output is kept per worker", async () => {
    const lines: WorkerOutputLine[] = [];
    t = await startTestServer({
      pingIntervalMs: 500,
      longPollMs: 300,
      env: { ...process.env, RUNPOD_API_KEY: "users-cloud-key", FERRY_PYTHON: "/opt/py/bin/python3" } as Record<string, string>,
      onWorkerOutput: (line) => lines.push(line),
    });
    const endpoint = t.server.saveEndpoint(
      endpointInput({ name: "envtest", workersMin: 1, workersMax: 1, template: { name: "t", env: [{ key: "TEMPLATE_GREETING", value: "hi" }, { key: "TEST_WORKER_PRINT_ENV", value: "1" }] } }),
    );
    const envLine = await waitUntil(() => lines.find((l) => l.line.startsWith("ENV ")), 15_000, "the worker's env line");
    const env = JSON.parse(envLine.line.slice(4)) as Record<string, string>;
    const api = `${t.server.url}/v2/${endpoint.id}`;
    expect(env).toMatchObject({
      RUNPOD_WEBHOOK_GET_JOB: `${api}/job-take/$RUNPOD_POD_ID?gpu=LOCAL`,
      RUNPOD_WEBHOOK_POST_OUTPUT: `${api}/job-done/$RUNPOD_POD_ID/$ID?gpu=LOCAL`,
      RUNPOD_WEBHOOK_POST_STREAM: `${api}/job-stream/$RUNPOD_POD_ID/$ID?gpu=LOCAL`,
      RUNPOD_WEBHOOK_PING: `${api}/ping/$RUNPOD_POD_ID?gpu=LOCAL`,
      RUNPOD_POD_ID: envLine.podId,
      RUNPOD_ENDPOINT_ID: endpoint.id,
      RUNPOD_PING_INTERVAL: "500",
      FERRY_VENV: join(t.stateDir, "endpoints", endpoint.id, "venv"),
      FERRY_PYTHON: "/opt/py/bin/python3",
      TEMPLATE_GREETING: "hi",
    });
    expect(env.RUNPOD_AI_API_KEY).toMatch(/^ferry-worker-[0-9a-f]{48}$/);
    expect(env).not.toHaveProperty("RUNPOD_API_KEY");
    expect(envLine).toMatchObject({ endpointId: endpoint.id, endpointName: "envtest", worker: "worker-1", stream: "stdout" });
    await waitUntil(() => lines.some((l) => l.stream === "stderr" && l.line.startsWith("stderr hello")), 5000, "a stderr line");
    const [info] = t.server.workers(endpoint.id);
    expect(info).toMatchObject({ name: "worker-1", pid: expect.any(Number) });
    expect(info!.output.some((l) => l.startsWith("--- Starting Serverless Worker"))).toBe(true);

    const run = await t.call(`/v2/${endpoint.id}/runsync`, { body: { input: { value: "hello" } } });
    expect(run.body).toMatchObject({ status: "COMPLETED", output: { echo: "hello", worker: envLine.podId } });
  });

  it("scale up under a queue to workersMax, and down to workersMin after idleTimeout, seen in /health", async () => {
    t = await startTestServer({ pingIntervalMs: 500, longPollMs: 300 });
    const id = t.server.saveEndpoint(endpointInput({ workersMin: 0, workersMax: 3, idleTimeout: 1 })).id;
    expect(total(await health(t, id))).toBe(0);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await t.call(`/v2/${id}/run`, { body: { input: { sleepMs: 700, value: i } } })).body.id);
    let peak = 0;
    const seenRunning = await waitUntil(async () => {
      const h = await health(t!, id);
      peak = Math.max(peak, total(h));
      return h.workers.running === 3 ? h : undefined;
    }, 20_000, "three running workers");
    expect(seenRunning.workers.ready).toBe(3);
    await waitUntil(async () => (await health(t!, id)).jobs.completed === 6, 20_000, "all six jobs");
    const afterWork = await health(t, id);
    expect(afterWork.workers.idle).toBeGreaterThan(0);
    const startedIdle = Date.now();
    await waitUntil(async () => total(await health(t!, id)) === 0, 10_000, "scale-down to zero", 50);
    expect(Date.now() - startedIdle).toBeGreaterThanOrEqual(300);
    expect(peak).toBeLessThanOrEqual(3);
    await waitUntil(() => t!.server.workers(id).every((w) => w.state === "exited"), 10_000, "the stopped workers to exit");

    // workersMin keeps a floor.
    t.server.saveEndpoint({ id, workersMin: 1, workersMax: 2 });
    await waitUntil(async () => (await health(t!, id)).workers.idle === 1, 15_000, "one warm worker");
    await new Promise((r) => setTimeout(r, 1500));
    expect(total(await health(t, id))).toBe(1);
  });

  it("REQUEST_COUNT scales to ceil(jobs / scalerValue)", async () => {
    t = await startTestServer({ pingIntervalMs: 500, longPollMs: 300 });
    const id = t.server.saveEndpoint(endpointInput({ workersMin: 0, workersMax: 5, idleTimeout: 1, scalerType: "REQUEST_COUNT", scalerValue: 4 })).id;
    for (let i = 0; i < 8; i++) await t.call(`/v2/${id}/run`, { body: { input: { sleepMs: 300 } } });
    await waitUntil(async () => (await health(t!, id)).jobs.completed === 8, 20_000, "the jobs");
    expect(t.server.workers(id).length).toBe(2);
  });

  it("a worker process that dies has its job re-queued once, then failed; other jobs still finish", async () => {
    t = await startTestServer({ pingIntervalMs: 500, longPollMs: 300 });
    const id = t.server.saveEndpoint(endpointInput({ workersMin: 1, workersMax: 2, idleTimeout: 5 })).id;
    const crash = (await t.call(`/v2/${id}/run`, { body: { input: { crash: true } } })).body.id;
    const fine = (await t.call(`/v2/${id}/run`, { body: { input: { value: 1 } } })).body.id;
    const failed = await waitUntil(async () => {
      const st = (await t!.call(`/v2/${id}/status/${crash}`)).body;
      return st.status === "FAILED" ? st : undefined;
    }, 30_000, "the crashing job to fail");
    const error = JSON.parse(failed.error);
    expect(error).toMatchObject({ error_type: "WorkerProcessDied", error_message: expect.stringContaining("killed by SIGKILL") });
    await waitUntil(async () => (await t!.call(`/v2/${id}/status/${fine}`)).body.status === "COMPLETED", 15_000, "the other job");
    const h = await health(t, id);
    expect(h.jobs).toMatchObject({ completed: 1, failed: 1, retried: 1, inQueue: 0, inProgress: 0 });
    expect(t.server.workers(id).filter((w) => w.signal === "SIGKILL")).toHaveLength(2);
    // Replacements keep the floor.
    await waitUntil(async () => (await health(t!, id)).workers.idle >= 1, 15_000, "a replacement worker");
  });

  it("stopPod (refresh_worker) replaces the worker; a template change restarts workers; delete stops them", async () => {
    t = await startTestServer({ pingIntervalMs: 500, longPollMs: 300 });
    const id = t.server.saveEndpoint(endpointInput({ workersMin: 1, workersMax: 1 })).id;
    const first = await t.call(`/v2/${id}/runsync`, { body: { input: { refresh: true, value: 1 } } });
    expect(first.body.status).toBe("COMPLETED");
    const second = await t.call(`/v2/${id}/runsync`, { body: { input: { value: 2 } } });
    expect(second.body.output.worker).not.toBe(first.body.output.worker);

    t.server.saveEndpoint({ id, template: { env: [{ key: "NEW", value: "1" }] } });
    const third = await t.call(`/v2/${id}/runsync`, { body: { input: { value: 3 } } });
    expect(third.body.status).toBe("COMPLETED");
    expect(third.body.output.worker).not.toBe(second.body.output.worker);

    const queued = (await t.call(`/v2/${id}/run`, { body: { input: { sleepMs: 5000 } } })).body.id;
    await t.gql(`mutation { deleteEndpoint(id: "${id}") }`);
    await waitUntil(() => t!.server.workers(id).every((w) => w.state === "exited"), 15_000, "workers to stop");
    expect((await t.call(`/v2/${id}/status/${queued}`)).status).toBe(404);
  });
});
