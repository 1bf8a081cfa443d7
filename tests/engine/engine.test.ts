// The Python execution engine and Ferry's handler, against the real Python child.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { addExtension, pack, unpack } from "msgpackr";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { fn, newEngine, newHandler, python, runJob } from "../helpers/engine.ts";

let engine: PythonEngine;
let handler: JobHandler;

beforeAll(async () => {
  engine = newEngine();
  await engine.start();
  handler = newHandler(engine);
});
afterAll(() => engine.stop());

const unpickle = (b64: string) =>
  JSON.parse(execFileSync(python, ["-c", "import base64,json,pickle,sys; print(json.dumps(pickle.loads(base64.b64decode(sys.argv[1]))))", b64], { encoding: "utf8" }));

describe("function jobs", () => {
  it("runs a job in RunPod's Python SDK format (cloudpickle args) and returns a pickled 42", async () => {
    const { response } = await runJob(handler, { function_name: "f", function_code: "def f(a, b):\n    return a * b", args: ["gAVLBi4=", "gAVLBy4="] });
    expect(response.success).toBe(true);
    expect(unpickle(response.result as string)).toBe(42);
  });

  it("awaits async functions and passes kwargs", async () => {
    const code = "import asyncio\nasync def f(a, *, b):\n    await asyncio.sleep(0)\n    return a - b";
    const { response } = await runJob(handler, fn(code, "f", [10], { kwargs: { b: 3 } }));
    expect(response.json_result).toBe(7);
  });

  it("captures print, stderr and logging in order, and streams them live with the job id", async () => {
    const code = "import sys, logging\ndef f():\n    print('one')\n    sys.stderr.write('two\\n')\n    logging.getLogger('x').warning('three')\n    return None";
    const run = await runJob(handler, fn(code), { id: "job-live" });
    expect(run.response.stdout).toBe("one\ntwo\nWARNING x: three\n");
    const logItems = run.items.filter((i) => "log" in i).map((i) => ("log" in i ? i.log : null));
    expect(logItems).toEqual([
      { stream: "stdout", line: "one", job_id: "job-live", worker_id: "test-worker" },
      { stream: "stderr", line: "two", job_id: "job-live", worker_id: "test-worker" },
      { stream: "log", line: "WARNING x: three", job_id: "job-live", worker_id: "test-worker" },
    ]);
    // Progress comes before the first line: with nothing to prepare, one item says the worker took the job and the call began.
    const firstLog = run.items.findIndex((i) => "log" in i);
    expect(run.items.slice(0, firstLog)).toEqual([{ progress: { phase: "running", worker_id: "test-worker" } }]);
  });

  it("delivers every live line of a chatty call, in order, merging lines that piled up", async () => {
    const run = await runJob(handler, fn("def f():\n    for i in range(1000):\n        print(f'line {i}')"));
    const lines = run.logs.flatMap((line) => line.split("\n"));
    expect(lines).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i}`));
    expect(run.logs.length).toBeLessThanOrEqual(1000);
    expect(run.response.stdout!.split("\n").length).toBe(1001);
  });

  it("answers a missing function name as an error, not as a result", async () => {
    const { response } = await runJob(handler, fn("def g():\n    return 1", "f"));
    expect(response.success).toBe(false);
    expect(response.error_type).toBe("NameError");
    expect(response.error).toContain("'f' is not defined");
  });

  it("reports user exceptions with their type and a traceback that starts in user code", async () => {
    const { response } = await runJob(handler, fn("def helper():\n    raise ValueError('bad value')\n\ndef f():\n    return helper()"));
    expect(response).toMatchObject({ success: false, error_type: "ValueError" });
    expect(response.error).toMatch(/^ValueError: bad value\n\nTraceback/);
    expect(response.error).toContain('File "<f>", line 2, in helper\n    raise ValueError(\'bad value\')');
    expect(response.error).not.toContain("runner.py");
  });

  it("names the caller's file in tracebacks when the code came from one, quoting the sent source", async () => {
    const job = { ...fn("import math\n\ndef f():\n    return math.sqrt(-1)"), code_file: "examples/py/not-on-this-worker.py" };
    const { response } = await runJob(handler, job);
    expect(response).toMatchObject({ success: false, error_type: "ValueError" });
    expect(response.error).toContain('File "examples/py/not-on-this-worker.py", line 4, in f\n    return math.sqrt(-1)');
  });

  it("names the line of a syntax error", async () => {
    const { response } = await runJob(handler, fn("x = 1\ndef f(:\n    pass"));
    expect(response.error_type).toBe("SyntaxError");
    expect(response.error).toContain("line 2");
  });

  it("answers a malformed request with a readable error naming the field", async () => {
    const { response } = await runJob(handler, { function_name: "f", args: [1], serialization_format: "cloudpickle" });
    expect(response).toMatchObject({ success: false, error_type: "InvalidRequest" });
    expect(response.error).toBe('Invalid job input: args[0]: must be a base64 string (or a ferry_blob reference) under serialization_format "cloudpickle"');
  });

  it("refuses modules paths that escape the module directory before running anything", async () => {
    for (const path of ["../evil.py", "/etc/evil.py", "a/../../b.py"]) {
      const { response } = await runJob(handler, fn("def f():\n    return 1", "f", [], { modules: { [path]: "x = 1" } }));
      expect(response.error_type).toBe("InvalidRequest");
    }
  });
});

describe("msgpack format", () => {
  const b64 = (v: unknown) => Buffer.from(pack(v)).toString("base64");
  const ndarray = (dtype: string, shape: number[], data: Uint8Array) => {
    // ext type 1: [dtype, shape, bytes], as docs/internals.md defines it
    const payload = pack([dtype, shape, data]);
    const header = payload.length < 256 ? Buffer.from([0xc7, payload.length, 1]) : Buffer.from([0xc8, payload.length >> 8, payload.length & 255, 1]);
    return Buffer.concat([header, payload]).toString("base64");
  };

  it("maps typed arrays to numpy arrays with dtype and shape, and back", async () => {
    const values = new Float32Array([1, 2, 3, 4, 5, 6]);
    const code = "import numpy as np\ndef f(a):\n    assert a.dtype == np.float32 and a.shape == (2, 3), (a.dtype, a.shape)\n    return a.T * 2";
    const { response } = await runJob(handler, { function_name: "f", function_code: code, serialization_format: "msgpack", args: [ndarray("<f4", [2, 3], new Uint8Array(values.buffer))] });
    expect(response.success).toBe(true);
    const raw = Buffer.from(response.result as string, "base64");
    expect(raw[0]).toBe(0xc7); // ext 8
    const [dtype, shape, data] = unpack(raw.subarray(3)) as [string, number[], Uint8Array];
    expect(dtype).toBe("<f4");
    expect(shape).toEqual([3, 2]);
    expect(Array.from(new Float32Array(new Uint8Array(data).buffer))).toEqual([2, 8, 4, 10, 6, 12]);
  });

  it("maps dicts, bytes, big ints, tuples and datetimes", async () => {
    const code = [
      "import datetime",
      "def f(d, blob, when):",
      "    assert isinstance(blob, bytes) and isinstance(when, datetime.datetime), (type(blob), type(when))",
      "    return {'n': d['n'] * 2, 'blob': blob[::-1], 'tuple': (1, 2), 'big': 2 ** 70, 'year': when.year}",
    ].join("\n");
    const when = new Date(Date.UTC(2030, 0, 2));
    const { response } = await runJob(handler, { function_name: "f", function_code: code, serialization_format: "msgpack", args: [b64({ n: 21 }), b64(new Uint8Array([1, 2, 3])), b64(when)] });
    expect(response.success, response.error ?? "").toBe(true);
    const raw = Buffer.from(response.result as string, "base64");
    // ext type 2 is the decimal text of an integer beyond 64 bits (docs/internals.md)
    addExtension({ type: 2, unpack: (data: Uint8Array) => BigInt(Buffer.from(data).toString("utf8")) });
    const value = unpack(raw) as Record<string, unknown>;
    expect(value.n).toBe(42);
    expect(Array.from(value.blob as Uint8Array)).toEqual([3, 2, 1]);
    expect(value.tuple).toEqual([1, 2]);
    expect(value.year).toBe(2030);
    expect(value.big).toBe(2n ** 70n);
  });

  it("refuses a forged MessagePack length without allocating it", async () => {
    // array32 header claiming 4 billion items, followed by nothing
    const bomb = Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]).toString("base64");
    const { response } = await runJob(handler, { function_name: "f", function_code: "def f(x):\n    return 1", serialization_format: "msgpack", args: [bomb] });
    expect(response).toMatchObject({ success: false, error_type: "DeserializationError" });
    expect(response.error).toContain("args[0]");
  });
});

describe("classes", () => {
  const counter = "class Counter:\n    def __init__(self, start=0):\n        self.n = start\n    def inc(self, by=1):\n        self.n += by\n        return self.n";
  const job = (extra: Record<string, unknown>) => ({ execution_type: "class", class_name: "Counter", class_code: counter, method_name: "inc", serialization_format: "json", ...extra });

  it("keeps an instance between jobs: the second job on an instance_id sees the first's state", async () => {
    const first = await runJob(handler, job({ instance_id: "counter-a", constructor_args: [10], args: [1] }));
    const second = await runJob(handler, job({ instance_id: "counter-a", create_new_instance: false, args: [5] }));
    expect(first.response.json_result).toBe(11);
    expect(second.response.json_result).toBe(16);
    expect(first.response.instance_info).toMatchObject({ class_name: "Counter", method_calls: 1, created: true });
    expect(second.response.instance_info).toMatchObject({ method_calls: 2, created: false });
    expect(second.response.instance_info!.created_at).toBe(first.response.instance_info!.created_at);
    expect(second.response.instance_info!.created_at).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
  });

  it("builds an instance it does not hold from the job's class code and says so", async () => {
    const { response } = await runJob(handler, job({ instance_id: "made-elsewhere", create_new_instance: false, constructor_args: [100], args: [1] }));
    expect(response.json_result).toBe(101);
    expect(response.instance_info).toMatchObject({ created: true, rebuilt: true });
  });

  it("generates an instance id ClassName_<8 hex> when none is given", async () => {
    const { response } = await runJob(handler, job({ args: [1] }));
    expect(response.instance_id).toMatch(/^Counter_[0-9a-f]{8}$/);
  });

  it("destroys an instance on request", async () => {
    await runJob(handler, job({ instance_id: "doomed", args: [1] }));
    const destroyed = await runJob(handler, { execution_type: "destroy", instance_id: "doomed" });
    expect(destroyed.response.details).toMatchObject({ destroyed: true });
    const after = await runJob(handler, job({ instance_id: "doomed", create_new_instance: false, args: [1] }));
    expect(after.response.instance_info).toMatchObject({ rebuilt: true });
  });

  it("evicts the least recently used instance beyond the cap", async () => {
    const capped = newEngine({ env: { ...process.env, FERRY_MAX_INSTANCES: "2" } });
    const h = newHandler(capped);
    try {
      for (const id of ["a", "b", "c"]) await runJob(h, job({ instance_id: id, args: [1] }));
      const again = await runJob(h, job({ instance_id: "a", create_new_instance: false, args: [1] }));
      expect(again.response.instance_info).toMatchObject({ rebuilt: true });
      const kept = await runJob(h, job({ instance_id: "c", create_new_instance: false, args: [1] }));
      expect(kept.response.json_result).toBe(2);
    } finally {
      await capped.stop();
    }
  });
});

describe("concurrency in one child", () => {
  it("runs two sync calls at once and answers a ping while they run", async () => {
    const code = "import time\ndef f(x):\n    print('started')\n    time.sleep(0.5)\n    return x";
    const started = performance.now();
    let running = 0;
    let bothRunning!: () => void;
    const bothStarted = new Promise<void>((resolve) => (bothRunning = resolve));
    const onItem = () => ++running === 2 && bothRunning();
    const calls = [runJob(handler, fn(code, "f", [1]), { onItem }), runJob(handler, fn(code, "f", [2]), { onItem })];
    await bothStarted;
    const ping = await engine.ping();
    expect(ping.calls).toBe(2);
    const results = await Promise.all(calls);
    expect(results.map((r) => r.response.json_result)).toEqual([1, 2]);
    expect(performance.now() - started).toBeLessThan(950);
  });

  it("lets async calls share the child's event loop", async () => {
    const code = "import asyncio\nasync def f(x):\n    await asyncio.sleep(0.4)\n    return x";
    const started = performance.now();
    const results = await Promise.all([1, 2, 3, 4].map((x) => runJob(handler, fn(code, "f", [x]))));
    expect(results.map((r) => r.response.json_result)).toEqual([1, 2, 3, 4]);
    expect(performance.now() - started).toBeLessThan(1_200);
  });
});
