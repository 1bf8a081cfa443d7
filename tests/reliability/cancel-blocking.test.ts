// A cancel must reach a call blocked in `time.sleep`, `socket.recv`, `queue.get` or
// `subprocess.wait`. The interrupt used to be set on the call's pool thread, where a blocked
// call never sees it: the cancel took the whole grace period, then the Python child was
// replaced and every class instance on the worker was lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { fn, newEngine, newHandler, runJob, type JobRun } from "../helpers/engine.ts";
import { within } from "./helpers.ts";

const GRACE_MS = 2_000;

let engine: PythonEngine;
let handler: JobHandler;

beforeAll(async () => {
  engine = newEngine({ cancelGraceMs: GRACE_MS });
  await engine.start();
  handler = newHandler(engine);
});
afterAll(() => engine.stop());

const HOLDER = [
  "import os, queue, socket, subprocess, sys, threading, time",
  "class Holder:",
  "    def __init__(self):",
  "        self.touched = 0",
  "    def touch(self):",
  "        self.touched += 1",
  "        return {'touched': self.touched, 'pid': os.getpid()}",
  "    def block(self, kind):",
  "        print('blocking', flush=True)",
  "        if kind == 'sleep':",
  "            time.sleep(30)",
  "        elif kind == 'recv':",
  "            a, b = socket.socketpair()",
  "            a.recv(1)",
  "        elif kind == 'queue':",
  "            queue.Queue().get()",
  "        elif kind == 'wait':",
  "            subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']).wait()",
  "        return 'not interrupted'",
].join("\n");

function method(name: string, args: unknown[] = []) {
  return { execution_type: "class", class_name: "Holder", class_code: HOLDER, instance_id: "holder", create_new_instance: false, method_name: name, args, serialization_format: "json" };
}

/** Runs a job, cancels it once it prints its first line, and says how long the answer took. */
async function cancelOnceStarted(input: Record<string, unknown>): Promise<{ run: JobRun; cancelToAnswerMs: number }> {
  const abort = new AbortController();
  let abortedAt = 0;
  const run = await within(
    GRACE_MS + 10_000,
    "the cancelled call",
    runJob(handler, input, {
      signal: abort.signal,
      onItem: (item) => {
        if ("log" in item && !abortedAt) {
          abortedAt = performance.now();
          abort.abort();
        }
      },
    }),
  );
  return { run, cancelToAnswerMs: performance.now() - abortedAt };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe("a cancel reaches a call blocked in the standard library", () => {
  it("time.sleep: answers Cancelled at once (p50 well under the grace) and the instance still answers", async () => {
    const first = await runJob(handler, method("touch"));
    expect(first.response).toMatchObject({ success: true, json_result: { touched: 1 } });
    const pid = (first.response.json_result as { pid: number }).pid;

    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const { run, cancelToAnswerMs } = await cancelOnceStarted(method("block", ["sleep"]));
      expect(run.response).toMatchObject({ success: false, error_type: "Cancelled" });
      expect(run.response.details?.child_killed).toBeUndefined();
      times.push(cancelToAnswerMs);
    }
    const p50 = median(times);
    console.log(`cancel of a call blocked in time.sleep(30): p50 ${p50.toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms over ${times.length}`);
    // The goal is p50 <= 100 ms (docs/reliability.md); the bound here leaves slack for a loaded
    // machine and still fails on a cancel that waits for the grace period.
    expect(p50).toBeLessThan(GRACE_MS / 2);

    const after = await runJob(handler, method("touch"));
    expect(after.response).toMatchObject({ success: true, json_result: { touched: 2, pid } });
    expect(after.response.instance_info).toMatchObject({ created: false });
  });

  for (const kind of ["recv", "queue", "wait"]) {
    it(`${kind}: answers Cancelled before the grace and the instance still answers`, async () => {
      const before = await runJob(handler, method("touch"));
      const { run, cancelToAnswerMs } = await cancelOnceStarted(method("block", [kind]));
      expect(run.response).toMatchObject({ success: false, error_type: "Cancelled" });
      expect(cancelToAnswerMs).toBeLessThan(GRACE_MS / 2);
      const after = await runJob(handler, method("touch"));
      const touched = (before.response.json_result as { touched: number }).touched;
      expect(after.response).toMatchObject({ success: true, json_result: { touched: touched + 1 } });
    });
  }

  it("a timeout is delivered the same way: Timeout, and the child is not replaced", async () => {
    const before = await runJob(handler, method("touch"));
    const { response } = await runJob(handler, { ...method("block", ["sleep"]), timeout_ms: 300 });
    expect(response).toMatchObject({ success: false, error_type: "Timeout" });
    expect(response.details?.child_killed).toBeUndefined();
    const after = await runJob(handler, method("touch"));
    expect((after.response.json_result as { pid: number }).pid).toBe((before.response.json_result as { pid: number }).pid);
  });

  it("an async call awaiting asyncio.sleep is cancelled too", async () => {
    const { run, cancelToAnswerMs } = await cancelOnceStarted(fn("import asyncio\nasync def f():\n    print('waiting', flush=True)\n    await asyncio.sleep(30)"));
    expect(run.response).toMatchObject({ success: false, error_type: "Cancelled" });
    expect(cancelToAnswerMs).toBeLessThan(GRACE_MS / 2);
  });

  it("a SIGINT handler that user code installed lasts for its own call only", async () => {
    const replaced = await runJob(handler, fn("import signal\ndef f():\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    return 'replaced'"));
    expect(replaced.response).toMatchObject({ success: true, json_result: "replaced" });
    const { run, cancelToAnswerMs } = await cancelOnceStarted(method("block", ["sleep"]));
    expect(run.response).toMatchObject({ success: false, error_type: "Cancelled" });
    expect(cancelToAnswerMs).toBeLessThan(GRACE_MS / 2);
  });

  it("a SIGINT that is no cancel (Ctrl-C in a terminal) leaves the call running", async () => {
    const code = "import os, time\ndef f():\n    print(os.getpid(), flush=True)\n    time.sleep(0.5)\n    return 'finished'";
    const { response } = await runJob(handler, fn(code), {
      onItem: (item) => {
        if ("log" in item) process.kill(Number(item.log.line), "SIGINT");
      },
    });
    expect(response).toMatchObject({ success: true, json_result: "finished" });
  });
});

describe("a second synchronous call while the main thread is taken", () => {
  const blocker = fn("import threading, time\ndef f():\n    print(threading.current_thread().name, flush=True)\n    time.sleep(30)");

  it("runs at once on the thread pool, beside the first", async () => {
    const abort = new AbortController();
    let firstThread = "";
    const first = runJob(handler, blocker, {
      signal: abort.signal,
      onItem: (item) => {
        if ("log" in item) firstThread = item.log.line;
      },
    });
    await within(10_000, "the first call to start", (async () => { while (!firstThread) await new Promise((r) => setTimeout(r, 10)); })());
    const second = await within(10_000, "the second call", runJob(handler, fn("import threading\ndef f():\n    return threading.current_thread().name")));
    expect(firstThread).toBe("MainThread");
    expect(second.response).toMatchObject({ success: true });
    expect(second.response.json_result).toMatch(/^ferry-call/);
    abort.abort();
    expect((await first).response).toMatchObject({ success: false, error_type: "Cancelled" });
  });

  it("is interrupted at its next bytecode; blocked, it is stopped by the kill after the grace", async () => {
    const abort = new AbortController();
    let started = false;
    const first = runJob(handler, blocker, {
      signal: abort.signal,
      // Its printed line, not the handler's progress event: the call holds the main thread then.
      onItem: (item) => {
        if ("log" in item) started = true;
      },
    });
    await within(10_000, "the first call to start", (async () => { while (!started) await new Promise((r) => setTimeout(r, 10)); })());

    // A pool call that returns to Python bytecode between short sleeps stops at the cancel.
    const looping = await cancelOnceStarted(fn("import time\ndef f():\n    print('looping', flush=True)\n    while True:\n        time.sleep(0.01)"));
    expect(looping.run.response).toMatchObject({ success: false, error_type: "Cancelled" });
    expect(looping.cancelToAnswerMs).toBeLessThan(GRACE_MS / 2);

    // A pool call blocked in one long sleep never reaches a bytecode: the child is replaced.
    const blocked = await cancelOnceStarted(blocker);
    expect(blocked.run.response).toMatchObject({ success: false, error_type: "Cancelled", details: { child_killed: true } });
    expect((await first).response).toMatchObject({ success: false });
  });
});
