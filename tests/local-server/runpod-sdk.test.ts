/**
 * RunPod's own npm client (`runpod-sdk`), given the local server's base URL, runs Ferry jobs on
 * real Ferry workers (`node dist/handler.mjs`, built by the global setup): run + status,
 * runSync, stream, cancel, health, purgeQueue, all in RunPod's shapes. Then a small load with
 * a real worker SIGKILLed mid-run.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import runpodSdk from "runpod-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_WORKER_SCRIPT } from "../../sdk/local-server/server.ts";
import { endpointInput, startTestServer, waitUntil, type TestServer } from "./helpers.ts";

const API_KEY = "local-test-key-0123456789";
const add = (a: number, b: number) => ({ function_name: "f", function_code: "def f(a,b):\n    return a+b", args: [a, b], serialization_format: "json" });
const sleeper = (seconds: number, value: number) => ({
  function_name: "nap",
  function_code: "import time\ndef nap(s, v):\n    time.sleep(s)\n    return v",
  args: [seconds, value],
  serialization_format: "json",
});

let t: TestServer;
let endpointId: string;
let endpoint: NonNullable<ReturnType<ReturnType<typeof runpodSdk>["endpoint"]>>;

beforeAll(async () => {
  t = await startTestServer({
    apiKey: API_KEY,
    workerCommand: [process.execPath, DEFAULT_WORKER_SCRIPT],
    pingIntervalMs: 1000,
    persistEndpoints: false,
  });
  endpointId = t.server.saveEndpoint(endpointInput({ name: "sdk", workersMin: 1, workersMax: 2, idleTimeout: 30 })).id;
  endpoint = runpodSdk(API_KEY, { baseUrl: t.server.endpointBaseUrl }).endpoint(endpointId)!;
  // The first worker creates the endpoint's venv; wait for it once here.
  await waitUntil(async () => (await endpoint.health()).workers.idle >= 1, 90_000, "a ready Ferry worker", 200);
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe("runpod-sdk against the local server, real Ferry workers", () => {
  it("run + status", async () => {
    const started = await endpoint.run({ input: add(1, 2) });
    expect(started).toEqual({ id: expect.stringMatching(/-u1$/), status: "IN_QUEUE" });
    const final = await waitUntil(async () => {
      const s = (await endpoint.status(started.id)) as any;
      return s.completed ? s : undefined;
    }, 30_000, "the job", 50);
    expect(final).toMatchObject({ id: started.id, status: "COMPLETED", started: true, completed: true, succeeded: true, delayTime: expect.any(Number), executionTime: expect.any(Number) });
    expect(final.output).toMatchObject({ success: true, json_result: 3 });
  });

  it("runSync", async () => {
    const result = (await endpoint.runSync({ input: add(20, 22) }, 30_000)) as any;
    expect(result).toMatchObject({ status: "COMPLETED", completed: true, succeeded: true });
    expect(result.output.json_result).toBe(42);
  });

  it("stream yields each value of a Python generator", async () => {
    const started = await endpoint.run({
      input: {
        function_name: "count",
        function_code: "def count(n):\n    for i in range(n):\n        yield {'i': i}\n",
        args: [3],
        serialization_format: "json",
      },
    });
    const chunks: any[] = [];
    for await (const chunk of endpoint.stream(started.id, 30_000)) chunks.push(chunk);
    const values = chunks.map((c) => c.output).filter((o) => o && "value" in o).map((o) => o.value);
    expect(values).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
    expect(((await endpoint.status(started.id)) as any).status).toBe("COMPLETED");
  });

  it("cancel stops a running job; the worker goes on with the next one", async () => {
    const started = await endpoint.run({ input: sleeper(30, 1) });
    await waitUntil(async () => ((await endpoint.status(started.id)) as any).status === "IN_PROGRESS", 30_000, "the job to start", 50);
    const cancelled = await endpoint.cancel(started.id);
    expect(cancelled).toMatchObject({ id: started.id, status: "CANCELLED" });
    expect(((await endpoint.status(started.id)) as any).status).toBe("CANCELLED");
    const next = (await endpoint.runSync({ input: add(2, 2) }, 30_000)) as any;
    expect(next.output.json_result).toBe(4);
  });

  it("health and purgeQueue answer RunPod's shapes", async () => {
    const health = await endpoint.health();
    expect(health).toEqual({
      jobs: { completed: expect.any(Number), failed: expect.any(Number), inProgress: expect.any(Number), inQueue: expect.any(Number), retried: expect.any(Number) },
      workers: { idle: expect.any(Number), initializing: expect.any(Number), ready: expect.any(Number), running: expect.any(Number), throttled: 0, unhealthy: 0 },
    });
    expect(health.jobs.completed).toBeGreaterThanOrEqual(4);
    expect(await endpoint.purgeQueue()).toEqual({ removed: expect.any(Number), status: "completed" });
  });

  it("a wrong key is refused", async () => {
    const wrong = runpodSdk("nope", { baseUrl: t.server.endpointBaseUrl }).endpoint(endpointId)!;
    await expect(wrong.health()).rejects.toThrow(/status code 401/);
  });
});

describe("real workers under a SIGKILL", () => {
  let hook: Server;
  const counts = new Map<string, number>();
  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const id = (JSON.parse(body) as { id: string }).id;
        counts.set(id, (counts.get(id) ?? 0) + 1);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  });
  afterAll(() => new Promise<void>((r) => hook.close(() => r())));

  it("60 Ferry jobs on 2 workers, one SIGKILLed mid-run: each final exactly once, counts add up", { timeout: 120_000 }, async () => {
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
    t.server.saveEndpoint({ id: endpointId, workersMin: 2, workersMax: 2 });
    await waitUntil(async () => (await endpoint.health()).workers.ready === 2, 60_000, "two ready workers", 100);
    const before = await endpoint.health();
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push((await endpoint.run({ input: sleeper(0.05, i), webhook: hookUrl } as any)).id);
    await waitUntil(async () => (await endpoint.health()).jobs.completed >= before.jobs.completed + 10, 60_000, "10 jobs done", 20);
    // A worker seen busy may already have its job-done on the wire: freeze it, let what is in flight
    // land, and kill it only if the server still counts a job as held by it.
    const server = t.server;
    const victim = await waitUntil(async () => {
      const busy = server.workers(endpointId).find((w) => w.state === "running" && w.pid);
      if (!busy) return undefined;
      process.kill(busy.pid!, "SIGSTOP");
      await new Promise((r) => setTimeout(r, 200));
      if (server.workers(endpointId).find((w) => w.podId === busy.podId)?.state === "running") return busy;
      process.kill(busy.pid!, "SIGCONT");
      return undefined;
    }, 20_000, "a busy worker", 1);
    process.kill(victim.pid!, "SIGKILL");
    const after = await waitUntil(async () => {
      const h = await endpoint.health();
      return h.jobs.inQueue === 0 && h.jobs.inProgress === 0 && h.jobs.completed + h.jobs.failed >= before.jobs.completed + before.jobs.failed + 60 ? h : undefined;
    }, 90_000, "every job to finish", 100);
    await waitUntil(() => ids.every((id) => counts.has(id)), 10_000, "every webhook", 50);
    await new Promise((r) => setTimeout(r, 200));
    expect(ids.every((id) => counts.get(id) === 1)).toBe(true);
    expect(after.jobs.completed - before.jobs.completed).toBe(60);
    expect(after.jobs.failed).toBe(before.jobs.failed);
    expect(after.jobs.retried - before.jobs.retried).toBe(1);
    const outputs = await Promise.all(ids.map(async (id) => ((await endpoint.status(id)) as any).output.json_result));
    expect(outputs).toEqual(ids.map((_, i) => i));
    expect(t.server.workers(endpointId).find((w) => w.podId === victim.podId)).toMatchObject({ state: "exited", signal: "SIGKILL" });
  });
});
