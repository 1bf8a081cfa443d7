// Hostile payloads: a pickle whose unpickling runs code, length-forged frames, and the pipe
// between the worker and its Python child failing under it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { encodeFrame, FrameDecoder, FrameTooLargeError, MAX_FRAME_BYTES } from "../../handler/engine/frames.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { fn, HEALTHY, newEngine, newHandler, python, runJob } from "../helpers/engine.ts";
import { within } from "./helpers.ts";

let engine: PythonEngine;
let handler: JobHandler;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-hostile-"));
  engine = newEngine({ env: { ...process.env, RUNPOD_API_KEY: "rk-hostile-marker-1234", RUNPOD_AI_API_KEY: "ai-hostile-marker-1234" } });
  await engine.start();
  handler = newHandler(engine);
});
afterAll(async () => {
  await engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A pickle that, when loaded, writes the loading process's pid and what it can see to `marker`, and evaluates to 7. */
function codeRunningPickle(marker: string): string {
  const payload =
    `__import__('pathlib').Path(${JSON.stringify(marker)}).write_text(__import__('json').dumps(` +
    `{'pid': __import__('os').getpid(), 'runpod_key': __import__('os').environ.get('RUNPOD_API_KEY'), 'ai_key': __import__('os').environ.get('RUNPOD_AI_API_KEY')})) and 7`;
  const script = `import base64, pickle\nclass P:\n    def __reduce__(self):\n        return (eval, (${JSON.stringify(payload)},))\nprint(base64.b64encode(pickle.dumps(P())).decode())`;
  return execFileSync(python, ["-c", script], { encoding: "utf8" }).trim();
}

describe("a pickle whose unpickling runs code", () => {
  it("runs inside the job's own Python child, with the same rights as the job's code and without the worker's keys", async () => {
    const marker = join(dir, "pickle-ran.json");
    const { response } = await runJob(handler, {
      function_name: "f",
      function_code: "def f(x):\n    return x * 6",
      serialization_format: "cloudpickle",
      args: [codeRunningPickle(marker)],
    });
    // The argument decoded by running the pickle's code, and the call got its value.
    expect(response).toMatchObject({ success: true });
    expect(existsSync(marker)).toBe(true);
    const seen = JSON.parse(readFileSync(marker, "utf8")) as { pid: number; runpod_key: string | null; ai_key: string | null };
    // It ran in the child that runs user code (not in the worker), which never holds the worker's API keys.
    expect(seen.pid).toBe(engine.childInfo?.pid);
    expect(seen.pid).not.toBe(process.pid);
    expect(seen).toMatchObject({ runpod_key: null, ai_key: null });
    const again = await runJob(handler, HEALTHY);
    expect(again.response).toMatchObject({ success: true, json_result: 42 });
  });

  it("under serialization_format msgpack the same bytes are data, never code", async () => {
    const marker = join(dir, "msgpack-ran.json");
    const { response } = await runJob(handler, {
      function_name: "f",
      function_code: "def f(x):\n    return x",
      serialization_format: "msgpack",
      args: [codeRunningPickle(marker)],
    });
    expect(response).toMatchObject({ success: false, error_type: "DeserializationError" });
    expect(existsSync(marker)).toBe(false);
  });

  it("under serialization_format json an argument is never unpickled", async () => {
    const marker = join(dir, "json-ran.json");
    const pickled = codeRunningPickle(marker);
    const { response } = await runJob(handler, fn("def f(x):\n    return len(x)", "f", [pickled]));
    expect(response).toMatchObject({ success: true, json_result: pickled.length });
    expect(existsSync(marker)).toBe(false);
  });
});

describe("length-forged frames are refused before anything is allocated for them", () => {
  it("FrameDecoder refuses a 4 GiB length from the 4-byte header alone", () => {
    const alloc = vi.spyOn(Buffer, "alloc");
    const allocUnsafe = vi.spyOn(Buffer, "allocUnsafe");
    const allocUnsafeSlow = vi.spyOn(Buffer, "allocUnsafeSlow");
    try {
      const decoder = new FrameDecoder();
      const header = Buffer.from([0xff, 0xff, 0xff, 0xff]);
      expect(() => decoder.push(header)).toThrow(FrameTooLargeError);
      expect(() => new FrameDecoder().push(header)).toThrow(`frame of 4294967295 bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
      const sizes = [...alloc.mock.calls, ...allocUnsafe.mock.calls, ...allocUnsafeSlow.mock.calls].map((c) => Number(c[0]));
      expect(sizes.filter((n) => n > 64 * 1024)).toEqual([]);
    } finally {
      alloc.mockRestore();
      allocUnsafe.mockRestore();
      allocUnsafeSlow.mockRestore();
    }
  });

  it("the limit is exact: a frame of exactly the limit decodes, one byte more is refused on its header", () => {
    const frame = encodeFrame({ t: "log", line: "x".repeat(100) });
    const bodyLength = frame.length - 4;
    expect(new FrameDecoder(bodyLength).push(frame)).toEqual([{ t: "log", line: "x".repeat(100) }]);
    expect(() => new FrameDecoder(bodyLength - 1).push(frame.subarray(0, 4))).toThrow(FrameTooLargeError);
  });

  it("a header split across chunks is still refused before the body arrives", () => {
    const decoder = new FrameDecoder(1024);
    expect(decoder.push(Buffer.from([0x00, 0x10]))).toEqual([]);
    expect(() => decoder.push(Buffer.from([0x00, 0x01]))).toThrow("frame of 1048577 bytes exceeds the 1024-byte limit");
  });

  it("a forged MessagePack length inside a payload is refused by the child without allocating (DeserializationError)", async () => {
    const forged = ["dd", "db", "c6", "df"].map((code) => Buffer.from(`${code}ffffffff`, "hex").toString("base64"));
    const started = performance.now();
    const { response } = await runJob(handler, { function_name: "f", function_code: "def f(*a):\n    return 1", serialization_format: "msgpack", args: forged });
    expect(response).toMatchObject({ success: false, error_type: "DeserializationError" });
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe("the pipe to the Python child", () => {
  it("a child killed while a call frame sits unread in its input answers WorkerProcessDied, and the worker process survives", async () => {
    // A killed process with unread input makes the kernel reset the socket: the worker's end of
    // fd 3 then emits ECONNRESET. Without an 'error' listener on the child's pipes that is an
    // uncaught exception, which ends the whole worker process (every job on it is lost).
    const uncaught: Error[] = [];
    const onUncaught = (error: Error) => uncaught.push(error);
    process.prependListener("uncaughtException", onUncaught);
    const own = newEngine();
    try {
      await own.start();
      const ownHandler = newHandler(own);
      const pid = own.childInfo!.pid;
      process.kill(pid, "SIGSTOP");
      const running = runJob(ownHandler, fn("def f(x):\n    return x", "f", ["y".repeat(1_000)]));
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(pid, "SIGKILL");
      const { response } = await within(10_000, "the call on the killed child", running);
      expect(response).toMatchObject({ success: false, error_type: "WorkerProcessDied" });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(uncaught.map((e) => `${(e as NodeJS.ErrnoException).code ?? ""} ${e.message}`)).toEqual([]);
      const healthy = await within(10_000, "the healthy job after", runJob(ownHandler, HEALTHY));
      expect(healthy.response).toMatchObject({ success: true, json_result: 42 });
    } finally {
      process.removeListener("uncaughtException", onUncaught);
      await own.stop(2_000);
    }
  });
});
