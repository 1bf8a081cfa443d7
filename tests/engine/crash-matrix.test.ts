// Everything user code can do wrong, one table: each case must answer precisely, and the same
// worker must then run a healthy job. Real Python child throughout.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { StreamItem } from "../../protocol/wire.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { fn, HEALTHY, newEngine, newHandler, runJob, type JobRun } from "../helpers/engine.ts";

let engine: PythonEngine;
let handler: JobHandler;

beforeAll(async () => {
  // An address-space limit makes a memory hog fail inside Python rather than take the machine.
  engine = newEngine({ env: { ...process.env, FERRY_CHILD_MEMORY_LIMIT_MB: "1024" } });
  await engine.start();
  handler = newHandler(engine);
});
afterAll(() => engine.stop());

/** Runs a job, aborting it once `abortAfter` stream items (of any kind) have arrived. */
async function runAndAbort(input: Record<string, unknown>, abortAfter: number): Promise<JobRun> {
  const controller = new AbortController();
  let seen = 0;
  // The handler's own progress events are not the call's output: they are not counted.
  const onItem = (item: StreamItem) => {
    if (!("progress" in item) && ++seen === abortAfter) controller.abort();
  };
  return runJob(handler, input, { signal: controller.signal, onItem });
}

interface Case {
  name: string;
  run: () => Promise<JobRun>;
  check: (run: JobRun) => void;
}

const cases: Case[] = [
  {
    name: "an endless loop past a 1 s timeout is interrupted (no kill needed)",
    run: () => runJob(handler, fn("def f():\n    print('spinning')\n    while True:\n        pass", "f", [], { timeout_ms: 1000 })),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "Timeout", stdout: "spinning\n" });
      expect(response.details?.child_killed).toBeUndefined();
    },
  },
  {
    name: "a cancel mid-call interrupts the Python code and keeps what it printed",
    run: () => runAndAbort(fn("import time\ndef f():\n    print('working')\n    while True:\n        time.sleep(0.01)"), 1),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "Cancelled", stdout: "working\n" });
    },
  },
  {
    // Blocking the interrupt's signal stands for C code that never returns to Python: a plain
    // `time.sleep` is interrupted (tests/reliability/cancel-blocking.test.ts).
    name: "a call stuck in C code past its timeout is killed and the child replaced",
    run: () =>
      runJob(handler, fn("import signal, time\ndef f():\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n    time.sleep(60)", "f", [], { timeout_ms: 300 })),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "Timeout" });
      expect(response.error).toContain("Python process was replaced");
      expect(response.details).toMatchObject({ child_killed: true, instances_lost: true });
    },
  },
  {
    name: "os._exit(3) fails the job with the exit code",
    run: () => runJob(handler, fn("import os\ndef f():\n    os._exit(3)")),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "WorkerProcessDied" });
      expect(response.error).toContain("exited with code 3");
      expect(response.error).toContain("Class instances held by this worker were lost");
    },
  },
  {
    name: "a segfault fails the job with the signal and the last stderr lines",
    run: () => runJob(handler, fn("import ctypes\ndef f():\n    ctypes.string_at(0)")),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "WorkerProcessDied", details: { signal: "SIGSEGV" } });
      expect(response.error).toContain("Segmentation fault");
    },
  },
  {
    name: "SIGKILL from outside (the kernel's OOM killer) is reported with a memory hint",
    run: async () => {
      const job = runJob(handler, fn("import os, time\ndef f():\n    print(os.getpid())\n    time.sleep(30)"), {
        onItem: (item) => {
          if ("log" in item) process.kill(Number(item.log.line), "SIGKILL");
        },
      });
      return job;
    },
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "WorkerProcessDied", details: { signal: "SIGKILL" } });
      expect(response.error).toContain("out-of-memory killer");
    },
  },
  {
    name: "a memory hog under an address-space limit answers OutOfMemory",
    run: () => runJob(handler, fn("def f():\n    hog = []\n    while True:\n        hog.append(bytearray(64 * 1024 * 1024))")),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "OutOfMemory" });
      expect(response.error).toContain("MemoryError");
    },
  },
  {
    name: "a CUDA out-of-memory error is classified",
    run: () =>
      runJob(handler, fn("class OutOfMemoryError(RuntimeError):\n    pass\n\ndef f():\n    raise OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB')")),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "CudaOutOfMemory" });
    },
  },
  {
    name: "an exception in __init__ fails the class job with its type",
    run: () =>
      runJob(handler, {
        execution_type: "class",
        class_name: "Model",
        class_code: "class Model:\n    def __init__(self):\n        raise RuntimeError('weights missing')\n    def run(self):\n        return 1",
        method_name: "run",
        serialization_format: "json",
      }),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "RuntimeError" });
      expect(response.error).toContain("weights missing");
      expect(response.error).toContain("in __init__");
    },
  },
  {
    name: "a result with no mapping fails with its type and path",
    run: () => runJob(handler, fn("class Foo:\n    pass\n\ndef f():\n    return [1, 2, {'model': Foo()}]")),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "SerializationError" });
      expect(response.error).toContain("result[2].model: <class '__ferry_main__.Foo'>");
    },
  },
  {
    name: "a lambda under msgpack fails with its path",
    run: () => runJob(handler, { function_name: "f", function_code: "def f():\n    return {'fn': lambda: 1}", serialization_format: "msgpack" }),
    check: ({ response }) => {
      expect(response).toMatchObject({ success: false, error_type: "SerializationError" });
      expect(response.error).toContain("result.fn: <class 'function'>");
    },
  },
  {
    name: "a generator of 10,000 values delivers all of them, in order",
    run: () => runJob(handler, fn("def f(n):\n    for i in range(n):\n        yield i", "f", [10_000])),
    check: ({ response, values }) => {
      expect(response).toMatchObject({ success: true, stream_count: 10_000 });
      expect(values).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    },
  },
  {
    name: "a generator whose consumer cancels stops",
    run: () => runAndAbort(fn("import time\ndef f():\n    i = 0\n    while True:\n        yield i\n        i += 1\n        time.sleep(0.001)"), 5),
    check: ({ response, values }) => {
      expect(response).toMatchObject({ success: false, error_type: "Cancelled" });
      expect(values.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    },
  },
  {
    name: "an async generator streams and a sync generator's final value list is returned on request",
    run: () => runJob(handler, fn("import asyncio\nasync def f():\n    for i in range(3):\n        await asyncio.sleep(0)\n        yield {'i': i}", "f", [], { return_aggregate_stream: true })),
    check: ({ response, values }) => {
      expect(values).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
      expect(response.json_result).toEqual(values);
    },
  },
];

describe("crash matrix: each case, then a healthy job on the same worker", () => {
  for (const testCase of cases) {
    it(testCase.name, async () => {
      testCase.check(await testCase.run());
      const healthy = await runJob(handler, HEALTHY);
      expect(healthy.response).toMatchObject({ success: true, json_result: 42 });
    });
  }
});
