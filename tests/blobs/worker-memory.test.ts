/**
 * The Python child's memory around a large value, through Ferry's handler: the child gives a
 * large argument's memory back once the call is done, not when the next call comes.
 * (worker-memory-local.test.ts measures the worker process itself.)
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../sdk/codec.ts";
import { newEngine, newHandler, runJob } from "../helpers/engine.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";

const MiB = 1024 * 1024;
let engine: PythonEngine;
let handler: JobHandler;

function residentMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) / 1024;
}

beforeAll(async () => {
  engine = newEngine();
  await engine.start();
  handler = newHandler(engine);
}, 60_000);

afterAll(async () => {
  await engine?.stop();
});

describe("memory after a call", () => {
  it("after a 64 MB argument the child's memory comes back without waiting for another call", async () => {
    const childPid = engine.childInfo!.pid;
    const code = "def f(a):\n    return int(a.nbytes)";
    const small = { function_name: "f", function_code: code, serialization_format: "msgpack" as const, args: [encodeBase64(new Float32Array(4))] };
    expect((await runJob(handler, small)).response.success).toBe(true);
    const before = residentMiB(childPid);
    const big = { ...small, args: [encodeBase64(new Float32Array((64 * MiB) / 4))] };
    const { response } = await runJob(handler, big);
    expect(response.success, response.error ?? "").toBe(true);
    // The child answers before it drops the call: its memory comes back just after the answer.
    const deadline = Date.now() + 5_000;
    while (residentMiB(childPid) - before >= 16 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(residentMiB(childPid) - before).toBeLessThan(16);
  }, 60_000);
});
