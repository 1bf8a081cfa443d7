// The RunPod job loop against a strict local job server: take, execute, post, stream, ping,
// cancel, errors, concurrency, refresh_worker.
import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { runLoggedSubprocess } from "../../handler/subprocess.ts";
import { startWorker, WORKER_VERSION, type JobHandler, type StartWorkerOptions, type WorkerExit } from "../../handler/worker/start-worker.ts";
import { STREAM_CHUNK_LIMIT_BYTES } from "../../handler/worker/stream.ts";
import { startFakeRunpodJobServer, type FakeRunpodJobServer } from "../helpers/fake-runpod-job-server.ts";

const FAST_TIMING = {
  longPollTimeoutMs: 3_000,
  rateLimitWaitMs: 50,
  backoffBaseMs: 30,
  backoffMaxMs: 200,
  postRetryDelayMs: 10,
  postTimeoutMs: 3_000,
  concurrencyRecheckMs: 50,
};

let server: FakeRunpodJobServer;
let stop: AbortController;
let running: Promise<WorkerExit> | undefined;
/** Ways to let a test's held-up jobs end, so a failed assertion cannot hang the teardown. */
let releases: Array<() => void> = [];

beforeEach(async () => {
  server = await startFakeRunpodJobServer({ holdMs: 300 });
  stop = new AbortController();
  running = undefined;
});

afterEach(async () => {
  for (const release of releases) release();
  releases = [];
  stop.abort();
  await running;
  await server.close();
});

function start(handler: JobHandler, options: Partial<StartWorkerOptions> = {}, env: NodeJS.ProcessEnv = {}): Promise<WorkerExit> {
  running = startWorker({
    handler,
    argv: [],
    env: server.env(env),
    logger: silentLogger(),
    handleSignals: false,
    stopSignal: stop.signal,
    timing: FAST_TIMING,
    ...options,
  });
  return running;
}

function python(): string {
  const recorded = ".ferry/python";
  if (existsSync(recorded)) {
    const path = readFileSync(recorded, "utf8").trim();
    if (path) return path;
  }
  return "python3";
}

describe("RunPod worker loop", () => {
  it("takes a job, runs it and posts the exact body and query", async () => {
    const contexts: Array<{ workerId: string; aborted: boolean }> = [];
    start(async (job, ctx) => {
      contexts.push({ workerId: ctx.workerId, aborted: ctx.signal.aborted });
      return { doubled: (job.input as { x: number }).x * 2 };
    });
    server.enqueue({ id: "job-1-u1", input: { x: 21 }, webhook: "kept" });
    const done = await server.waitForResult("job-1-u1");

    expect(done.method).toBe("POST");
    expect(done.path).toBe(`/v2/${server.endpointId}/job-done/${server.podId}/job-1-u1`);
    expect(done.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=false");
    expect(done.headers.authorization).toBe(server.apiKey);
    expect(done.bodyText).toBe('{"output":{"doubled":42}}');
    expect(contexts).toEqual([{ workerId: server.podId, aborted: false }]);

    const firstTake = server.requestsOf("take")[0]!;
    expect(firstTake.rawQuery).toBe("?gpu=NVIDIA+TEST&job_in_progress=0");
    expect(firstTake.headers.authorization).toBe(server.apiKey);
    expect(server.results.get("job-1-u1")?.status).toBe("COMPLETED");
    expect(server.violations).toEqual([]);
  });

  it("a failing job posts a string error and reads FAILED", async () => {
    start(async () => {
      throw new TypeError("cannot read the input");
    });
    server.enqueue({ id: "bad-1", input: {} });
    const done = await server.waitForResult("bad-1");
    const body = done.body as { error: string; output?: unknown };
    expect(Object.keys(body)).toEqual(["error"]);
    expect(typeof body.error).toBe("string");
    expect(JSON.parse(body.error)).toMatchObject({
      error_type: "TypeError",
      error_message: "cannot read the input",
      hostname: "fake-host",
      worker_id: server.podId,
      runpod_version: WORKER_VERSION,
    });
    expect(JSON.parse(body.error).error_traceback).toContain("cannot read the input");
    expect(server.results.get("bad-1")?.status).toBe("FAILED");
    expect(server.violations).toEqual([]);
  });

  it("an object output with error and refresh_worker: error lifted, stopPod sent, then the worker stops", async () => {
    const exit = start(async () => ({ success: false, error: "ValueError: x", refresh_worker: true }));
    server.enqueue({ id: "r-1", input: {} });
    const done = await server.waitForResult("r-1");
    expect(done.body).toEqual({ output: { success: false }, error: "ValueError: x", stopPod: true });
    // No stopSignal involved: refresh_worker alone ends the loop.
    await expect(exit).resolves.toEqual({ mode: "worker", exitCode: 0 });
    expect(server.violations).toEqual([]);
  });

  it("a generator posts each value to the stream URL, then the final post with isStream=true", async () => {
    start(async function* (job) {
      yield { step: 1 };
      yield "two";
      yield [3];
      if ((job.input as { ret?: boolean }).ret) return { success: true, result: "final" };
    });
    server.enqueue({ id: "gen-1", input: {} }, { id: "gen-2", input: { ret: true } });
    const first = await server.waitForResult("gen-1");
    const second = await server.waitForResult("gen-2");

    const streams = server.requestsOf("stream").filter((r) => r.jobId === "gen-1");
    expect(streams.map((r) => r.bodyText)).toEqual(['{"output":{"step":1}}', '{"output":"two"}', '{"output":[3]}']);
    expect(streams.every((r) => r.path === `/v2/${server.endpointId}/job-stream/${server.podId}/gen-1` && r.rawQuery === "?gpu=NVIDIA+TEST&isStream=false")).toBe(true);
    expect(streams.every((r) => r.at <= first.at)).toBe(true);
    expect(first.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=true");
    expect(first.body).toEqual({ output: [] });
    // A generator's return value is the final output, with the body rules applied.
    expect(second.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=true");
    expect(second.body).toEqual({ output: { success: true, result: "final" } });
    expect(server.violations).toEqual([]);
  });

  it("returnAggregateStream: the final output is every yielded value", async () => {
    start(
      async function* () {
        yield 1;
        yield 2;
      },
      { returnAggregateStream: true },
    );
    server.enqueue({ id: "agg-1", input: {} });
    expect((await server.waitForResult("agg-1")).body).toEqual({ output: [1, 2] });
  });

  it("pings carry the in-progress job id while a 2 s Python call runs", async () => {
    let started = 0;
    let finished = 0;
    start(
      async (_job, ctx) => {
        started = Date.now();
        const result = await runLoggedSubprocess(python(), ["-c", "import time; time.sleep(2)"], { operation: "sleep", signal: ctx.signal });
        finished = Date.now();
        return { ok: result.ok };
      },
      {},
      { RUNPOD_PING_INTERVAL: "200" },
    );
    server.enqueue({ id: "slow-1", input: {} });
    const done = await server.waitForResult("slow-1", 8_000);
    expect(done.body).toEqual({ output: { ok: true } });
    const during = server.requestsOf("ping").filter((p) => p.at > started && p.at < finished);
    const busy = during.filter((p) => p.query.get("job_id") === "slow-1");
    // 2 s at a 200 ms interval is ~10 pings; a blocked event loop would give at most one.
    expect(busy.length).toBeGreaterThanOrEqual(5);
    // The heartbeat thread learns of the job by a message: a ping already on its way when the
    // job started can reach the server inside the window without the id.
    expect(busy.length).toBeGreaterThanOrEqual(during.length - 1);
    expect(busy.every((p) => p.query.get("runpod_version") === WORKER_VERSION && p.headers.authorization === server.apiKey)).toBe(true);
    const idle = server.requestsOf("ping").filter((p) => p.at < started - 50);
    expect(idle.every((p) => !p.query.has("job_id"))).toBe(true);
    expect(server.violations).toEqual([]);
  });

  it("a job listed by /job-stop/ is cancelled (ctx.signal aborted) and nothing is posted for it", async () => {
    let abortedWith: unknown;
    let markStarted!: () => void;
    const jobStarted = new Promise<void>((resolve) => (markStarted = resolve));
    start(async (job, ctx) => {
      if (job.id !== "victim") return { next: true };
      markStarted();
      await new Promise<void>((resolve) => {
        releases.push(resolve);
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      abortedWith = ctx.signal.reason;
      return { too: "late" };
    });
    server.enqueue({ id: "victim", input: {} });
    await jobStarted;
    server.stopJobs(["victim"]);
    // Concurrency 1: the next job is taken only after the cancelled one has left, so once its
    // result is in, any post for the cancelled job would already have been recorded.
    server.enqueue({ id: "after", input: {} });
    await server.waitForResult("after");
    expect((abortedWith as Error).name).toBe("Cancelled");
    expect(server.requests.filter((r) => r.jobId === "victim")).toEqual([]);
    expect(server.requestsOf("stop").every((r) => r.rawQuery === "?gpu=NVIDIA+TEST")).toBe(true);
    expect(server.violations).toEqual([]);
  });

  it("survives 429 and 500 answers, backing off after errors", async () => {
    server.scriptTake({ status: 429 }, { status: 500, body: "boom" }, { status: 500 }, { status: 503 }, { status: 200, body: "not json" });
    start(async () => "ok");
    server.enqueue({ id: "after-errors", input: {} });
    const done = await server.waitForResult("after-errors");
    expect(done.body).toEqual({ output: "ok" });
    const takes = server.requestsOf("take");
    expect(takes.length).toBeGreaterThanOrEqual(6);
    // After the 429: at least the rate-limit wait. After consecutive 500s: growing waits (>= 50% of 30, 60 ms).
    expect(takes[1]!.at - takes[0]!.at).toBeGreaterThanOrEqual(45);
    expect(takes[2]!.at - takes[1]!.at).toBeGreaterThanOrEqual(14);
    expect(takes[3]!.at - takes[2]!.at).toBeGreaterThanOrEqual(29);
  });

  it("retries a job-done post that answers 5xx", async () => {
    const flaky = { remaining: 2 };
    const fetchWithFailures: typeof fetch = async (input, init) => {
      if (String(input).includes("/job-done/") && flaky.remaining > 0) {
        flaky.remaining--;
        return new Response("unavailable", { status: 503 });
      }
      return fetch(input, init);
    };
    start(async () => 7, { fetch: fetchWithFailures });
    server.enqueue({ id: "retry-1", input: {} });
    expect((await server.waitForResult("retry-1")).body).toEqual({ output: 7 });
    expect(flaky.remaining).toBe(0);
  });

  it("skips malformed jobs and keeps going", async () => {
    server.scriptTake({ status: 200, contentType: "application/json", body: JSON.stringify({ id: "no-input" }) });
    start(async () => "fine");
    server.enqueue({ id: "good", input: 1 });
    expect((await server.waitForResult("good")).body).toEqual({ output: "fine" });
    expect(server.requests.some((r) => r.jobId === "no-input")).toBe(false);
  });

  it("runs two jobs at once with concurrency 2, taking them as a batch", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let release!: () => void;
    const bothIn = new Promise<void>((resolve) => (release = resolve));
    start(
      async (job) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (inFlight === 2) release();
        // Each job waits for the other to be running too (bounded, so a failure reads clearly).
        await Promise.race([bothIn, new Promise((resolve) => setTimeout(resolve, 2_000))]);
        inFlight--;
        return job.id;
      },
      { concurrency: 2 },
    );
    server.enqueue({ id: "c-1", input: {} }, { id: "c-2", input: {} });
    await Promise.all([server.waitForResult("c-1"), server.waitForResult("c-2")]);
    expect(maxInFlight).toBe(2);
    const batch = server.requestsOf("take-batch")[0]!;
    expect(batch.rawQuery).toBe("?gpu=NVIDIA+TEST&batch_size=2&job_in_progress=0");
    expect(server.violations).toEqual([]);
  });

  it("takes one more job with job_in_progress=1 while a job runs (concurrency 2)", async () => {
    let markStarted!: () => void;
    const jobStarted = new Promise<void>((resolve) => (markStarted = resolve));
    start(
      async () => {
        markStarted();
        await new Promise<void>((resolve) => releases.push(resolve));
        return "held";
      },
      { concurrency: 2 },
    );
    server.enqueue({ id: "held-1", input: {} });
    await jobStarted;
    const take = await server.waitForRequest((r) => r.kind === "take" && r.query.get("job_in_progress") === "1", 3_000, "a take with job_in_progress=1");
    expect(take.rawQuery).toBe("?gpu=NVIDIA+TEST&job_in_progress=1");
    expect(server.violations).toEqual([]);
  });

  it("a concurrency modifier is consulted on every take", async () => {
    const seen: number[] = [];
    start(async () => 1, {
      concurrency: (current) => {
        seen.push(current);
        return 3;
      },
    });
    server.enqueue({ id: "m-1", input: {} });
    await server.waitForResult("m-1");
    expect(seen[0]).toBe(1);
    expect(seen.slice(1).every((c) => c === 3)).toBe(true);
    expect(server.requestsOf("take-batch")[0]!.query.get("batch_size")).toBe("3");
  });

  it("stopping gracefully lets the job in flight finish and post, then calls onShutdown", async () => {
    let markStarted!: () => void;
    const jobStarted = new Promise<void>((resolve) => (markStarted = resolve));
    let finishJob!: () => void;
    const order: string[] = [];
    const exit = start(
      async () => {
        markStarted();
        await new Promise<void>((resolve) => releases.push((finishJob = resolve)));
        return "finished";
      },
      { onShutdown: () => void order.push("onShutdown") },
    );
    server.enqueue({ id: "inflight", input: {} });
    await jobStarted;
    stop.abort();
    finishJob();
    const result = await exit;
    order.push("resolved");
    expect(result).toEqual({ mode: "worker", exitCode: 0 });
    expect(server.results.get("inflight")?.body).toEqual({ output: "finished" });
    expect(order).toEqual(["onShutdown", "resolved"]);
  });

  it("a stream chunk over 1 MB is not posted: the job fails with a SerializationError and the generator is closed", async () => {
    // `{"output":"` and `"}` wrap the string: 13 bytes of JSON around it.
    const atLimit = "a".repeat(STREAM_CHUNK_LIMIT_BYTES - 13);
    const overLimit = "b".repeat(STREAM_CHUNK_LIMIT_BYTES - 12);
    const trace: string[] = [];
    start(async function* () {
      try {
        yield "small";
        yield atLimit;
        trace.push("past the chunk at the limit");
        yield overLimit;
        trace.push("past the chunk over the limit");
        yield "never";
      } finally {
        trace.push("closed");
      }
    });
    server.enqueue({ id: "big-1", input: {} });
    const done = await server.waitForResult("big-1");

    const streamed = server.requestsOf("stream").filter((r) => r.jobId === "big-1");
    expect(streamed.map((r) => Buffer.byteLength(r.bodyText))).toEqual([Buffer.byteLength('{"output":"small"}'), STREAM_CHUNK_LIMIT_BYTES]);
    expect(done.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=true");
    expect(server.results.get("big-1")?.status).toBe("FAILED");
    const payload = JSON.parse((done.body as { error: string }).error) as Record<string, string>;
    expect(payload.error_type).toBe("SerializationError");
    expect(payload.error_message).toContain(`${STREAM_CHUNK_LIMIT_BYTES + 1} bytes`);
    expect(payload.error_message).toContain(`${STREAM_CHUNK_LIMIT_BYTES} bytes (1 MB)`);
    // return() was called at the refused yield: the handler produced nothing more.
    expect(trace).toEqual(["past the chunk at the limit", "closed"]);
    expect(server.violations).toEqual([]);
  });

  it("a streamed value JSON cannot encode fails the job with a SerializationError", async () => {
    let closed = false;
    start(async function* () {
      try {
        yield { n: 1n };
        yield "never";
      } finally {
        closed = true;
      }
    });
    server.enqueue({ id: "bigint-1", input: {} });
    const done = await server.waitForResult("bigint-1");
    expect(server.requestsOf("stream").filter((r) => r.jobId === "bigint-1")).toEqual([]);
    expect(JSON.parse((done.body as { error: string }).error)).toMatchObject({ error_type: "SerializationError" });
    expect(closed).toBe(true);
    expect(server.violations).toEqual([]);
  });

  it("a stream post that fails for good fails the job and closes the generator", async () => {
    let streamAttempts = 0;
    const streamDown: typeof fetch = async (input, init) => {
      if (String(input).includes("/job-stream/")) {
        streamAttempts++;
        return new Response("unavailable", { status: 503 });
      }
      return fetch(input, init);
    };
    const yielded: string[] = [];
    let closed = false;
    start(
      async function* () {
        try {
          for (const v of ["first", "second"]) {
            yielded.push(v);
            yield v;
          }
        } finally {
          closed = true;
        }
      },
      { fetch: streamDown },
    );
    server.enqueue({ id: "down-1", input: {} });
    const done = await server.waitForResult("down-1");
    expect(server.results.get("down-1")?.status).toBe("FAILED");
    const payload = JSON.parse((done.body as { error: string }).error) as Record<string, string>;
    expect(payload.error_message).toContain("HTTP 503");
    // Retried like any post (3 attempts), then the job ends; the second value is never produced.
    expect(streamAttempts).toBe(3);
    expect(yielded).toEqual(["first"]);
    expect(closed).toBe(true);
  });

  it("does not spin when the server answers empty at once: takes and stop polls are paced", async () => {
    await server.close();
    server = await startFakeRunpodJobServer({ holdMs: 0 });
    start(async (job) => job.input);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const takes = server.requestsOf("take").length;
    const stops = server.requestsOf("stop").length;
    // Unpaced, an answer-at-once server sees hundreds of polls a second on each channel.
    expect(takes).toBeLessThan(30);
    expect(stops).toBeLessThan(30);
    expect(takes).toBeGreaterThan(2);
    // Pacing waits at most about a second: a job is still picked up promptly.
    const queuedAt = Date.now();
    server.enqueue({ id: "paced-1", input: "hi" });
    const done = await server.waitForResult("paced-1", 3_000);
    expect(done.body).toEqual({ output: "hi" });
    expect(done.at - queuedAt).toBeLessThan(1_500);
    expect(server.violations).toEqual([]);
  });
});
