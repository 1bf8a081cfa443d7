// `--rp_serve_api`: the local endpoint API over this worker's handler, with the cloud's shapes.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { startWorker, type JobHandler, type StartWorkerOptions, type WorkerExit } from "../../handler/worker/start-worker.ts";

let stop: AbortController | undefined;
let running: Promise<WorkerExit> | undefined;
let hooks: Server | undefined;
/** Ways to let a test's held-up jobs end, so a failed assertion cannot hang the teardown. */
let releases: Array<() => void> = [];

afterEach(async () => {
  for (const release of releases) release();
  releases = [];
  stop?.abort();
  await running;
  await new Promise<void>((resolve) => (hooks ? hooks.close(() => resolve()) : resolve()));
  stop = running = hooks = undefined;
});

async function serve(handler: JobHandler, options: Partial<StartWorkerOptions> = {}, argv: string[] = []) {
  stop = new AbortController();
  let address!: { host: string; port: number };
  const listening = new Promise<void>((resolve) => {
    running = startWorker({
      handler,
      argv: ["--rp_serve_api", "--rp_api_port", "0", ...argv],
      env: { RUNPOD_POD_ID: "local-worker" },
      logger: silentLogger(),
      handleSignals: false,
      stopSignal: stop!.signal,
      onListening: (a) => {
        address = a;
        resolve();
      },
      ...options,
    });
  });
  await listening;
  const base = `http://127.0.0.1:${address.port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  return { address, call };
}

/** A webhook receiver: resolves with each job's terminal status object as the server sends it. */
async function webhookReceiver() {
  const received = new Map<string, (body: Record<string, any>) => void>();
  const pending = new Map<string, Promise<Record<string, any>>>();
  hooks = createServer((req, res) => {
    let text = "";
    req.on("data", (d: Buffer) => (text += d.toString()));
    req.on("end", () => {
      const body = JSON.parse(text) as Record<string, any>;
      res.writeHead(200).end();
      received.get(body.id)?.(body);
    });
  });
  await new Promise<void>((resolve) => hooks!.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
  const expectFor = (id: string) => {
    if (!pending.has(id)) pending.set(id, new Promise((resolve) => received.set(id, resolve)));
    return pending.get(id)!;
  };
  return { url, expectFor };
}

describe("local API (--rp_serve_api)", () => {
  it("binds 127.0.0.1 by default and answers /runsync with the full status object", async () => {
    const { address, call } = await serve(async (job) => ({ echo: job.input }));
    expect(address.host).toBe("127.0.0.1");
    const { status, body } = await call("POST", "/runsync", { input: { a: 1 } });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "COMPLETED", output: { echo: { a: 1 } }, workerId: "local-worker" });
    expect(typeof body.id).toBe("string");
    expect(typeof body.delayTime).toBe("number");
    expect(typeof body.executionTime).toBe("number");
    // The cloud's prefix works too, so endpoint-API clients can point here.
    expect((await call("POST", "/v2/my-endpoint/runsync", { input: 2 })).body).toMatchObject({ status: "COMPLETED", output: { echo: 2 } });
  });

  it("a failing job reads FAILED with a string error", async () => {
    const { call } = await serve(async () => {
      throw new Error("nope");
    });
    const { body } = await call("POST", "/runsync", { input: {} });
    expect(body.status).toBe("FAILED");
    expect(typeof body.error).toBe("string");
    expect(JSON.parse(body.error)).toMatchObject({ error_type: "Error", error_message: "nope", worker_id: "local-worker" });
    expect("output" in body).toBe(false);
  });

  it("/run starts the job in the background right away; /status (GET and POST) reports it", async () => {
    const hook = await webhookReceiver();
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    let finish!: () => void;
    const { call } = await serve(async () => {
      markStarted();
      await new Promise<void>((resolve) => releases.push((finish = resolve)));
      return { done: true };
    });
    const run = await call("POST", "/run", { input: {}, webhook: hook.url });
    expect(run.body).toEqual({ id: run.body.id, status: "IN_QUEUE" });
    await started; // without any /status call
    expect((await call("GET", `/status/${run.body.id}`)).body).toMatchObject({ id: run.body.id, status: "IN_PROGRESS" });
    const terminal = hook.expectFor(run.body.id);
    finish();
    expect(await terminal).toMatchObject({ id: run.body.id, status: "COMPLETED", output: { done: true } });
    expect((await call("POST", `/status/${run.body.id}`)).body).toMatchObject({ status: "COMPLETED", output: { done: true } });
    expect((await call("GET", "/status/unknown-id")).status).toBe(404);
  });

  it("/stream returns the chunks not yet returned, with the status", async () => {
    const hook = await webhookReceiver();
    const { call } = await serve(async function* () {
      yield "a";
      yield { b: 2 };
      yield [3];
    });
    const run = await call("POST", "/run", { input: {}, webhook: hook.url });
    await hook.expectFor(run.body.id);
    expect((await call("GET", `/stream/${run.body.id}`)).body).toEqual({
      id: run.body.id,
      status: "COMPLETED",
      stream: [{ output: "a" }, { output: { b: 2 } }, { output: [3] }],
    });
    expect((await call("POST", `/stream/${run.body.id}`)).body).toEqual({ id: run.body.id, status: "COMPLETED", stream: [] });
    // Without return_aggregate_stream, a generator job's output is [] as on the cloud.
    expect((await call("GET", `/status/${run.body.id}`)).body.output).toEqual([]);
  });

  it("/cancel aborts the job's signal and the job reads CANCELLED", async () => {
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    let reason: unknown;
    const { call } = await serve(async (_job, ctx) => {
      markStarted();
      await new Promise<void>((resolve) => {
        releases.push(resolve);
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      reason = ctx.signal.reason;
      return "ignored";
    });
    const run = await call("POST", "/run", { input: {} });
    await started;
    expect((await call("POST", `/cancel/${run.body.id}`)).body).toEqual({ id: run.body.id, status: "CANCELLED" });
    expect((reason as Error).name).toBe("Cancelled");
    expect((await call("GET", `/status/${run.body.id}`)).body.status).toBe("CANCELLED");
  });

  it("/health has the cloud's shape", async () => {
    const { call } = await serve(async () => 1);
    await call("POST", "/runsync", { input: {} });
    const { body } = await call("GET", "/health");
    expect(body).toEqual({
      jobs: { completed: 1, failed: 0, inProgress: 0, inQueue: 0, retried: 0 },
      workers: { idle: 1, initializing: 0, ready: 1, running: 0, throttled: 0 },
    });
  });

  it("refuses bodies over 10 MB on /run and 20 MB on /runsync with 413; missing input is 400", async () => {
    const { call } = await serve(async (job) => (job.input as string).length);
    const big = (mb: number) => JSON.stringify({ input: "x".repeat(mb * 1024 * 1024) });
    const tooBig = await call("POST", "/run", big(11));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error).toMatch(/10 MB.*\/run/);
    expect((await call("POST", "/runsync", big(12))).body).toMatchObject({ status: "COMPLETED", output: 12 * 1024 * 1024 });
    const syncTooBig = await call("POST", "/runsync", big(21));
    expect(syncTooBig.status).toBe(413);
    expect(syncTooBig.body.error).toMatch(/20 MB.*\/runsync/);
    expect((await call("POST", "/run", { nothing: 1 })).status).toBe(400);
    expect((await call("POST", "/run", "{bad")).status).toBe(400);
    expect((await call("GET", "/run")).status).toBe(405);
    expect((await call("GET", "/nowhere")).status).toBe(404);
  });

  it("stopping finishes the running job, answers its /runsync caller, then resolves", async () => {
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    let finish!: () => void;
    let shutdowns = 0;
    const { call } = await serve(
      async () => {
        markStarted();
        await new Promise<void>((resolve) => releases.push((finish = resolve)));
        return "last";
      },
      { onShutdown: () => void shutdowns++ },
    );
    const sync = call("POST", "/runsync", { input: {} });
    await started;
    stop!.abort();
    finish();
    expect((await sync).body).toMatchObject({ status: "COMPLETED", output: "last" });
    expect(await running).toEqual({ mode: "api", exitCode: 0 });
    expect(shutdowns).toBe(1);
  });

  it("an executionTimeout aborts the job with a reason named Timeout, and the job reads TIMED_OUT", async () => {
    let reason: unknown;
    const { call } = await serve(async (_job, ctx) => {
      await new Promise<void>((resolve) => {
        releases.push(resolve);
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      reason = ctx.signal.reason;
      return "too late";
    });
    const { body } = await call("POST", "/runsync", { input: {}, policy: { executionTimeout: 150 } });
    expect(body.status).toBe("TIMED_OUT");
    expect((reason as Error).name).toBe("Timeout");
    expect((reason as Error).message).toBe("the job ran longer than its executionTimeout of 150 ms");
  });

  it("a refused webhook is not retried once the worker stops, so the process exits at once", async () => {
    // A real process, left to exit on its own: a pending retry wait would keep it alive.
    const proc = spawn("node_modules/.bin/tsx", ["tests/worker/fixtures/webhook-stop-worker.ts"]);
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => proc.on("exit", (code) => resolve({ code, at: Date.now() })));
    let resolvedAt: number | undefined;
    proc.stdout.on("data", () => {
      if (resolvedAt === undefined && stdout.includes("RESOLVED")) resolvedAt = Date.now();
    });
    // Without the fix the process waits out two 10 s retry delays. The bound leaves room for tsx's
    // start on a loaded machine; what is measured is the time from RESOLVED to exit.
    const bound = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    const { code, at } = await exited;
    clearTimeout(bound);
    expect(code, stderr).toBe(0);
    expect(stdout).toBe("WEBHOOK 1\nRESOLVED 0\n");
    expect(at - resolvedAt!).toBeLessThan(3_000);
  }, 25_000);
});
