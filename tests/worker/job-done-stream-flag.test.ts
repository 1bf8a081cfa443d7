/**
 * Job-done exactly as runpod-python posts it: `isStream=false` with the output for a job that is
 * not a generator, `isStream=true` only to close a stream; progress updates (`IN_PROGRESS` with
 * `output`, `isStream=false`) from a handler. The Ferry cases run the built worker
 * (dist/handler.mjs) as a process against the strict fake RunPod job server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { startWorker } from "../../handler/worker/start-worker.ts";
import { startFakeRunpodJobServer, type FakeRunpodJobServer } from "../helpers/fake-runpod-job-server.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const WORKER = join(ROOT, "dist", "handler.mjs");
const python = existsSync(join(ROOT, ".ferry", "python")) ? readFileSync(join(ROOT, ".ferry", "python"), "utf8").trim() : "python3";

const job = (name: string, code: string, args: unknown[] = []) => ({ function_name: name, function_code: code, args, serialization_format: "json" });

let server: FakeRunpodJobServer;
let worker: ChildProcess;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-isstream-"));
  server = await startFakeRunpodJobServer({ holdMs: 300 });
  worker = spawn(process.execPath, [WORKER], {
    cwd: dir,
    env: { ...process.env, ...server.env(), FERRY_PYTHON: python, FERRY_VENV: join(dir, "venv") },
    stdio: ["ignore", "ignore", "pipe"],
  });
});
afterAll(async () => {
  worker?.kill("SIGKILL");
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("isStream on job-done", () => {
  it("a plain function's result is posted with isStream=false, even though its log lines were streamed", async () => {
    server.enqueue({ id: "plain-u1", input: job("f", "def f(a):\n    print('working')\n    return a * 2", [21]) });
    const done = await server.waitForResult("plain-u1", 60_000);
    expect(done.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=false");
    expect(JSON.parse(done.bodyText).output).toMatchObject({ success: true, json_result: 42 });
    expect(server.violations).toEqual([]);
  });

  it("a generator's job is closed with isStream=true, also when it yields nothing", async () => {
    server.enqueue({ id: "gen-u1", input: job("g", "def g(n):\n    for i in range(n):\n        yield i", [2]) });
    const done = await server.waitForResult("gen-u1", 60_000);
    expect(done.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=true");
    const values = server.requestsOf("stream").filter((r) => r.jobId === "gen-u1").map((r) => (JSON.parse(r.bodyText) as { output: { value?: unknown } }).output.value).filter((v) => v !== undefined);
    expect(values).toEqual([0, 1]);

    server.enqueue({ id: "empty-gen-u1", input: job("g", "def g():\n    return\n    yield") });
    expect((await server.waitForResult("empty-gen-u1", 60_000)).rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=true");

    server.enqueue({ id: "bad-u1", input: { function_name: 3 } });
    expect((await server.waitForResult("bad-u1", 60_000)).rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=false");
    expect(server.violations).toEqual([]);
  });
});

describe("progress updates", () => {
  it("a handler's ctx.progress posts IN_PROGRESS with the output and isStream=false before the result", async () => {
    const progressServer = await startFakeRunpodJobServer({ holdMs: 300 });
    const stop = new AbortController();
    const running = startWorker({
      handler: async (_job, ctx) => {
        await ctx.progress({ percent: 50 });
        return "done";
      },
      argv: [],
      env: progressServer.env(),
      logger: silentLogger(),
      handleSignals: false,
      stopSignal: stop.signal,
    });
    try {
      progressServer.enqueue({ id: "progress-u1", input: {} });
      const first = await progressServer.waitForRequest((r) => r.kind === "done" && r.jobId === "progress-u1", 10_000, "the progress post");
      expect(first.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=false");
      expect(JSON.parse(first.bodyText)).toEqual({ status: "IN_PROGRESS", output: { percent: 50 } });
      const final = await progressServer.waitForRequest((r) => r.kind === "done" && r.jobId === "progress-u1" && r !== first, 10_000, "the result");
      expect(final.rawQuery).toBe("?gpu=NVIDIA+TEST&isStream=false");
      expect(JSON.parse(final.bodyText)).toEqual({ output: "done" });
    } finally {
      stop.abort();
      await running;
      await progressServer.close();
    }
  });
});
