/**
 * The endpoint API and the worker protocol, with plain HTTP clients playing the worker (the
 * endpoint starts no processes: workersMax 0), so every step of a job is under the test's hand.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointInput, startTestServer, waitUntil, type TestServer } from "./helpers.ts";

let t: TestServer;
let ep: string;
const take = (pod: string, extra = "") => t.call(`/v2/${ep}/job-take/${pod}?gpu=LOCAL&job_in_progress=0${extra}`);
const done = (pod: string, jobId: string, body: unknown, query = "isStream=false", headers?: Record<string, string>) =>
  t.call(`/v2/${ep}/job-done/${pod}/${jobId}?gpu=LOCAL&${query}`, { body: typeof body === "string" ? body : JSON.stringify(body), headers });

beforeAll(async () => {
  t = await startTestServer({ persistEndpoints: false, longPollMs: 400, streamWaitMs: 300, webhookRetryDelayMs: 50 });
  ep = t.server.saveEndpoint(endpointInput({ workersMax: 0 })).id;
});
afterAll(async () => {
  await t?.close();
});

describe("job lifecycle", () => {
  it("run -> IN_QUEUE, take, done -> COMPLETED with delayTime, executionTime and workerId", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: { x: 1 } } });
    expect(run.status).toBe(200);
    expect(run.body).toEqual({ id: expect.stringMatching(/-u1$/), status: "IN_QUEUE" });
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).body.status).toBe("IN_QUEUE");
    const taken = await take("podA");
    expect(taken.status).toBe(200);
    expect(taken.body).toEqual({ id: run.body.id, input: { x: 1 } });
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).body).toMatchObject({ status: "IN_PROGRESS", workerId: "podA" });
    await new Promise((r) => setTimeout(r, 30));
    expect((await done("podA", run.body.id, { output: { y: 2 } })).status).toBe(200);
    const status = (await t.call(`/v2/${ep}/status/${run.body.id}`)).body;
    expect(status).toMatchObject({ id: run.body.id, status: "COMPLETED", output: { y: 2 }, workerId: "podA" });
    expect(status.delayTime).toBeGreaterThanOrEqual(0);
    expect(status.executionTime).toBeGreaterThanOrEqual(25);
  });

  it("a take with nothing queued answers 204 after the long poll, and at once when a job arrives", async () => {
    const started = Date.now();
    expect((await take("podA")).status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    const pending = take("podA");
    await new Promise((r) => setTimeout(r, 50));
    const run = await t.call(`/v2/${ep}/run`, { body: { input: "late" } });
    const taken = await pending;
    expect(taken.body.id).toBe(run.body.id);
    await done("podA", run.body.id, { output: 1 });
  });

  it("job-take-batch hands out up to batch_size jobs as an array", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await t.call(`/v2/${ep}/run`, { body: { input: i } })).body.id);
    const batch = await t.call(`/v2/${ep}/job-take-batch/podB?gpu=LOCAL&batch_size=2&job_in_progress=0`);
    expect(batch.body.map((j: { id: string }) => j.id)).toEqual(ids.slice(0, 2));
    const rest = await t.call(`/v2/${ep}/job-take-batch/podB?gpu=LOCAL&batch_size=5&job_in_progress=1`);
    expect(rest.body.map((j: { id: string }) => j.id)).toEqual(ids.slice(2));
    for (const id of ids) await done("podB", id, { output: "ok" });
  });

  it("runsync answers the moment the job finishes, with the full status object", async () => {
    const sync = t.call(`/v2/${ep}/runsync?wait=20000`, { body: { input: "s" } });
    const taken = await waitUntil(async () => {
      const r = await take("podA");
      return r.status === 200 ? r : undefined;
    }, 5000, "the runsync job");
    expect(taken.body.id).toMatch(/^sync-.*-e1$/);
    const posted = Date.now();
    await done("podA", taken.body.id, { output: "fast" });
    const answer = await sync;
    expect(Date.now() - posted).toBeLessThan(500);
    expect(answer.body).toMatchObject({ id: taken.body.id, status: "COMPLETED", output: "fast" });
    expect(answer.body.executionTime).toBeTypeOf("number");
  });

  it("runsync not finished within ?wait answers {id, status} and /status-sync waits for the end", async () => {
    const answer = await t.call(`/v2/${ep}/runsync?wait=1000`, { body: { input: "slow" } });
    expect(answer.body).toEqual({ id: answer.body.id, status: "IN_QUEUE" });
    const waiting = t.call(`/v2/${ep}/status-sync/${answer.body.id}?wait=10000`);
    const taken = await take("podA");
    await done("podA", taken.body.id, { output: "late" });
    expect((await waiting).body).toMatchObject({ status: "COMPLETED", output: "late" });
  });

  it("progress updates show as output while IN_PROGRESS; a JSON body sent as form-urlencoded is accepted", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podA");
    await done("podA", run.body.id, { status: "IN_PROGRESS", output: "50%" });
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).body).toMatchObject({ status: "IN_PROGRESS", output: "50%" });
    const form = await done("podA", run.body.id, JSON.stringify({ output: { done: true } }), "isStream=false", {
      "content-type": "application/x-www-form-urlencoded",
      charset: "utf-8",
    });
    expect(form.status).toBe(200);
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).body).toMatchObject({ status: "COMPLETED", output: { done: true } });
  });

  it("an `error` string fails the job; a non-string error leaves it COMPLETED with no output (as RunPod does)", async () => {
    const a = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podA");
    await done("podA", a.body.id, { error: '{"error_type":"ValueError","error_message":"bad"}' });
    expect((await t.call(`/v2/${ep}/status/${a.body.id}`)).body).toMatchObject({ status: "FAILED", error: expect.stringContaining("ValueError") });
    const b = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podA");
    await done("podA", b.body.id, { output: 5, error: { not: "string" } });
    const status = (await t.call(`/v2/${ep}/status/${b.body.id}`)).body;
    expect(status.status).toBe("COMPLETED");
    expect(status).not.toHaveProperty("output");
  });

  it("a result from a worker that does not hold the job is refused, and a second result is ignored", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podA");
    expect((await done("podZ", run.body.id, { output: "stolen" })).status).toBe(409);
    await done("podA", run.body.id, { output: "first" });
    const again = await done("podA", run.body.id, { output: "second" });
    expect(again.status).toBe(200);
    expect(again.body.ignored).toBeDefined();
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).body.output).toBe("first");
  });
});

describe("stream, cancel, retry, purge, timeouts", () => {
  it("stream hands out each chunk once, then the final status", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podA");
    for (const n of [1, 2]) await t.call(`/v2/${ep}/job-stream/podA/${run.body.id}?gpu=LOCAL&isStream=false`, { body: { output: n } });
    expect((await t.call(`/v2/${ep}/stream/${run.body.id}`)).body).toEqual({ status: "IN_PROGRESS", stream: [{ output: 1 }, { output: 2 }] });
    const waiting = t.call(`/v2/${ep}/stream/${run.body.id}`);
    await t.call(`/v2/${ep}/job-stream/podA/${run.body.id}?gpu=LOCAL&isStream=false`, { body: { output: 3 } });
    expect((await waiting).body.stream).toEqual([{ output: 3 }]);
    await done("podA", run.body.id, { output: [] }, "isStream=true");
    expect((await t.call(`/v2/${ep}/stream/${run.body.id}`)).body).toEqual({ status: "COMPLETED", stream: [] });
  });

  it("stream of a job that streamed nothing returns its output as one chunk", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podA");
    await done("podA", run.body.id, { output: { all: 1 } });
    expect((await t.call(`/v2/${ep}/stream/${run.body.id}`)).body).toEqual({ status: "COMPLETED", stream: [{ output: { all: 1 } }] });
  });

  it("a stream chunk over 1 MB is refused with 413", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podA");
    const big = await t.call(`/v2/${ep}/job-stream/podA/${run.body.id}?isStream=false`, { body: { output: "x".repeat(1_100_000) } });
    expect(big.status).toBe(413);
    await done("podA", run.body.id, { output: 1 });
  });

  it("cancel of a running job reaches its worker through job-stop; its later result is ignored", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podC");
    const stop = t.call(`/v2/${ep}/job-stop/podC?gpu=LOCAL`);
    const cancelled = await t.call(`/v2/${ep}/cancel/${run.body.id}`, { body: {} });
    expect(cancelled.body).toEqual({ id: run.body.id, status: "CANCELLED" });
    expect((await stop).body).toEqual({ jobsToStop: [run.body.id] });
    expect((await done("podC", run.body.id, { output: "too late" })).body.ignored).toBeDefined();
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).body.status).toBe("CANCELLED");
    expect((await t.call(`/v2/${ep}/job-stop/podC?gpu=LOCAL`)).status).toBe(204);
  });

  it("cancel of a queued job removes it from the queue", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    expect((await t.call(`/v2/${ep}/cancel/${run.body.id}`, { body: {} })).body.status).toBe("CANCELLED");
    expect((await take("podA")).status).toBe(204);
  });

  it("policy.executionTimeout turns a running job TIMED_OUT and tells the worker to stop", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1, policy: { executionTimeout: 200 } } });
    await take("podT");
    const stop = await t.call(`/v2/${ep}/job-stop/podT?gpu=LOCAL`);
    expect(stop.body).toEqual({ jobsToStop: [run.body.id] });
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).body).toMatchObject({ status: "TIMED_OUT", error: expect.stringContaining("200 ms") });
  });

  it("retry puts a FAILED job back in the queue and refuses other states", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: "r" } });
    await take("podA");
    await done("podA", run.body.id, { error: "boom" });
    const before = (await t.call(`/v2/${ep}/health`)).body.jobs.retried;
    expect((await t.call(`/v2/${ep}/retry/${run.body.id}`, { body: {} })).body).toEqual({ id: run.body.id, status: "IN_QUEUE" });
    expect((await t.call(`/v2/${ep}/health`)).body.jobs.retried).toBe(before + 1);
    expect((await take("podA")).body.id).toBe(run.body.id);
    await done("podA", run.body.id, { output: "second time" });
    const refused = await t.call(`/v2/${ep}/retry/${run.body.id}`, { body: {} });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatch(/only FAILED or TIMED_OUT/);
  });

  it("purge-queue removes queued jobs only; health counts follow", async () => {
    const running = await t.call(`/v2/${ep}/run`, { body: { input: 1 } });
    await take("podP");
    for (let i = 0; i < 3; i++) await t.call(`/v2/${ep}/run`, { body: { input: i } });
    const h1 = (await t.call(`/v2/${ep}/health`)).body;
    expect(h1.jobs).toMatchObject({ inQueue: 3, inProgress: 1 });
    expect((await t.call(`/v2/${ep}/purge-queue`, { body: {} })).body).toEqual({ removed: 3, status: "completed" });
    const h2 = (await t.call(`/v2/${ep}/health`)).body;
    expect(h2.jobs).toMatchObject({ inQueue: 0, inProgress: 1 });
    expect(h2.workers).toEqual({ idle: expect.any(Number), initializing: 0, ready: expect.any(Number), running: 1, throttled: 0, unhealthy: 0 });
    await done("podP", running.body.id, { output: 1 });
    expect((await t.call(`/v2/${ep}/health`)).body.jobs.completed).toBe(h2.jobs.completed + 1);
  });

  it("a job past its ttl is deleted (404)", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1, policy: { ttl: 100 } } });
    await new Promise((r) => setTimeout(r, 150));
    expect((await t.call(`/v2/${ep}/status/${run.body.id}`)).status).toBe(404);
    expect((await take("podA")).status).toBe(204);
  });
});

describe("request checks", () => {
  it("answers 413 with a clear message over 10 MB on /run and 20 MB on /runsync", async () => {
    const eleven = JSON.stringify({ input: "x".repeat(11 * 1024 * 1024) });
    const run = await t.call(`/v2/${ep}/run`, { body: eleven });
    expect(run.status).toBe(413);
    expect(run.body.error).toMatch(/\/run accepts at most 10\.0 MB/);
    const cancelLater = await t.call(`/v2/${ep}/runsync?wait=1000`, { body: eleven });
    expect(cancelLater.status).toBe(200);
    await t.call(`/v2/${ep}/cancel/${cancelLater.body.id}`, { body: {} });
    const sync = await t.call(`/v2/${ep}/runsync`, { body: JSON.stringify({ input: "x".repeat(21 * 1024 * 1024) }) });
    expect(sync.status).toBe(413);
    expect(sync.body.error).toMatch(/\/runsync accepts at most 20\.0 MB/);
  });

  it("validates bodies: input is required, webhook must be a URL", async () => {
    expect((await t.call(`/v2/${ep}/run`, { body: { nope: 1 } })).status).toBe(400);
    const bad = await t.call(`/v2/${ep}/run`, { body: { input: 1, webhook: "not a url" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/webhook/);
    expect((await t.call(`/v2/${ep}/run`, { body: "{oops" })).status).toBe(400);
  });

  it("unknown endpoint and unknown job answer 404", async () => {
    expect((await t.call(`/v2/nosuchendpoint/run`, { body: { input: 1 } })).status).toBe(404);
    expect((await t.call(`/v2/${ep}/status/nope`)).status).toBe(404);
  });
});

describe("webhooks", () => {
  let hook: Server;
  let hookUrl: string;
  const received: { id: string; status: string; output?: unknown }[] = [];
  let refuse = 0;
  beforeAll(async () => {
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        received.push(JSON.parse(body));
        if (refuse > 0) {
          refuse--;
          res.writeHead(500).end();
        } else res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook?token=abc`;
  });
  afterAll(() => new Promise<void>((r) => hook.close(() => r())));

  it("POSTs the final status once, and retries twice when the receiver fails", async () => {
    const run = await t.call(`/v2/${ep}/run`, { body: { input: 1, webhook: hookUrl } });
    await take("podW");
    await done("podW", run.body.id, { output: "hooked" });
    await waitUntil(() => received.length === 1, 3000, "the webhook");
    expect(received[0]).toMatchObject({ id: run.body.id, status: "COMPLETED", output: "hooked", delayTime: expect.any(Number), executionTime: expect.any(Number) });

    received.length = 0;
    refuse = 5;
    const failing = await t.call(`/v2/${ep}/run`, { body: { input: 1, webhook: hookUrl } });
    await take("podW");
    await done("podW", failing.body.id, { output: "x" });
    await waitUntil(() => received.length === 3, 3000, "three webhook attempts");
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toHaveLength(3);
  });
});

describe("authorization", () => {
  it("with a key configured, answers 401 without it and accepts Bearer or the raw key", async () => {
    const secured = await startTestServer({ apiKey: "sekret-key-123", persistEndpoints: false, longPollMs: 100 });
    try {
      const id = secured.server.saveEndpoint(endpointInput()).id;
      const none = await secured.call(`/v2/${id}/health`);
      expect(none.status).toBe(401);
      expect(none.body.error).toMatch(/API key/);
      expect((await secured.call(`/v2/${id}/health`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      expect((await secured.call(`/v2/${id}/health`, { headers: { authorization: "Bearer sekret-key-123" } })).status).toBe(200);
      // The client key does not open worker routes; a worker's own key does.
      expect((await secured.call(`/v2/${id}/job-take/p1?gpu=LOCAL`, { headers: { authorization: "sekret-key-123" } })).status).toBe(401);
      const worker = secured.server.issueWorker(id);
      expect((await secured.call(`/v2/${id}/job-take/${worker.RUNPOD_POD_ID}?gpu=LOCAL`, { headers: { authorization: worker.RUNPOD_AI_API_KEY! } })).status).toBe(204);
      expect((await secured.call(`/v2/${id}/health`, { headers: { authorization: `Bearer ${worker.RUNPOD_AI_API_KEY}` } })).status).toBe(401);
      expect((await secured.call(`/graphql`, { body: { query: "query { myself { id } }" } })).status).toBe(401);
    } finally {
      await secured.close();
    }
  });
});

describe("lost workers", () => {
  it("a worker that stops pinging has its job re-queued once (retried), then failed; its late result is refused", async () => {
    const s = await startTestServer({ persistEndpoints: false, pingTimeoutMs: 300, longPollMs: 200 });
    try {
      const id = s.server.saveEndpoint(endpointInput()).id;
      const run = await s.call(`/v2/${id}/run`, { body: { input: 1 } });
      expect((await s.call(`/v2/${id}/job-take/quiet1?gpu=LOCAL`)).body.id).toBe(run.body.id);
      const requeued = await waitUntil(async () => {
        const h = (await s.call(`/v2/${id}/health`)).body;
        return h.jobs.retried === 1 && h.jobs.inQueue === 1 ? h : undefined;
      }, 3000, "the job to be re-queued");
      expect(requeued.jobs.inProgress).toBe(0);
      // The first worker was only slow: its result no longer counts.
      expect((await s.call(`/v2/${id}/job-done/quiet1/${run.body.id}?isStream=false`, { body: { output: "stale" } })).status).toBe(409);
      expect((await s.call(`/v2/${id}/job-take/quiet2?gpu=LOCAL`)).body.id).toBe(run.body.id);
      const failed = await waitUntil(async () => {
        const st = (await s.call(`/v2/${id}/status/${run.body.id}`)).body;
        return st.status === "FAILED" ? st : undefined;
      }, 3000, "the job to fail");
      expect(JSON.parse(failed.error)).toMatchObject({ error_type: "WorkerProcessDied", error_message: expect.stringContaining("stopped pinging") });
      expect((await s.call(`/v2/${id}/health`)).body.jobs).toMatchObject({ failed: 1, retried: 1, inQueue: 0, inProgress: 0 });
    } finally {
      await s.close();
    }
  });
});
