/**
 * remote() end to end: the local endpoint server, its real worker (`node dist/handler.mjs`,
 * built by the global setup) and the real Python runner. One endpoint with one worker, so
 * "the worker is freed" is shown by the next call getting through.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  CancelledError,
  configure,
  FerryError,
  kwargs,
  LiveServerless,
  ndarray,
  remote,
  RemoteError,
  RemoteTimeoutError,
  ResultValidationError,
  type RemoteLogLine,
} from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { getRuntime } from "../../sdk/runtime.ts";

let server: LocalServer;
let stateDir: string;
const logs: RemoteLogLine[] = [];

const gpu = new LiveServerless({ name: "sdk-it", workersMax: 1, idleTimeout: 300 });
const py = remote(gpu);

const PY = `
import time

def add(a, b):
    print(f"adding {a} and {b}")
    return a + b

def greet(name, greeting="Hello", punctuation="!"):
    return f"{greeting}, {name}{punctuation}"

def echo(value):
    return value

def describe(value):
    import numpy as np
    out = {}
    for key, v in value.items():
        if isinstance(v, np.ndarray):
            out[key] = ["ndarray", v.dtype.str, list(v.shape)]
        else:
            out[key] = [type(v).__name__]
    return out

def matrix(rows, cols):
    import numpy as np
    return np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)

def count(n, delay=0.0):
    for i in range(n):
        print(f"tick {i}")
        time.sleep(delay)
        yield i

def boom(x):
    print("about to fail")
    raise ValueError(f"bad input {x}")

def spin(seconds):
    # Pure-Python waiting: the cancel interrupt lands between bytecodes.
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(0.02)
    return "finished"
`;

const add = py.function<[a: number, b: number], number>(PY, "add");
const greet = py.function<[name: string], string, { greeting?: string; punctuation?: string }>(PY, "greet");
const echo = py.function<[value: unknown], unknown>(PY, "echo");
const describeValue = py.function<[value: Record<string, unknown>], Record<string, unknown[]>>(PY, "describe");
const matrix = py.function<[rows: number, cols: number], Float32Array & { shape: number[] }>(PY, "matrix");
const count = py.function<[n: number, delay?: number], number[]>(PY, "count");
const boom = py.function<[x: number], never>(PY, "boom");
const spin = py.function<[seconds: number], string>(PY, "spin");

const COUNTER = `
class Counter:
    def __init__(self, start, step=1):
        self.value = start
        self.step = step

    def incr(self):
        self.value += self.step
        return self.value

    def get(self):
        return self.value
`;
interface CounterApi {
  incr(): number;
  get(): number;
}
const Counter = py.class<CounterApi, [start: number]>(COUNTER, "Counter");

/** The worker is free again: a quick call gets through while it is the only worker. */
async function expectWorkerFree(withinMs: number): Promise<void> {
  const started = Date.now();
  expect(await add.with({ timeoutMs: withinMs })(20, 22)).toBe(42);
  expect(Date.now() - started).toBeLessThan(withinMs);
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "ferry-sdk-it-"));
  server = await startLocalServer({ stateDir, persistEndpoints: false });
  await configure({ localUrl: server.url, stateDir, quiet: true, onLog: (line) => logs.push(line) });
  // The first call provisions the endpoint and starts the worker.
  expect(await add(1, 1)).toBe(2);
}, 120_000);

afterAll(async () => {
  await configure({ quiet: true });
  await server?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe("functions", () => {
  it("a typed call returns the value; .call() adds job id, worker id, timings and stdout", async () => {
    expect(await add(2, 3)).toBe(5);
    const result = await add.call(4, 5);
    expect(result.value).toBe(9);
    expect(result.jobId).toMatch(/\S/);
    expect(result.workerId).toMatch(/\S/);
    expect(result.stdout).toBe("adding 4 and 5\n");
    expect(result.timings.roundTripMs).toBeGreaterThan(0);
    expect(result.timings.executeMs).toBeGreaterThanOrEqual(0);
    expect(result.timings.queueMs).toBeGreaterThanOrEqual(0);
    expect(logs).toContainEqual(expect.objectContaining({ stream: "stdout", line: "adding 4 and 5", source: expect.stringContaining("add") }));
  });

  it("keyword arguments go in a trailing kwargs({...}); undefined ones are left to Python's default", async () => {
    expect(await greet("Ada")).toBe("Hello, Ada!");
    expect(await greet("Ada", kwargs({ punctuation: "?" }))).toBe("Hello, Ada?");
    expect(await greet("Ada", kwargs({ greeting: "Hi", punctuation: undefined }))).toBe("Hi, Ada!");
  });

  it("a Python exception is re-thrown as RemoteError with the Python type, traceback and stdout", async () => {
    const error = (await boom(3).catch((e: unknown) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.name).toBe("RemoteError");
    expect(error.errorType).toBe("ValueError");
    expect(error.message).toBe("bad input 3");
    expect(error.traceback).toContain("Traceback (most recent call last)");
    expect(error.traceback).toMatch(/line \d+, in boom/);
    expect(error.traceback).toContain("ValueError: bad input 3");
    expect(error.stdout).toBe("about to fail\n");
    expect(error.jobId).toMatch(/\S/);
    expect(error.stack).toContain("RemoteError [ValueError]: bad input 3");
  });

  it("a function name missing from the code is an error, not a result", async () => {
    const missing = py.function<[], unknown>(PY, "nope");
    await expect(missing()).rejects.toMatchObject({ name: "RemoteError", errorType: "NameError" });
  });

  it("a result schema validates the value", async () => {
    expect(await add.with({ schema: z.number().int() })(1, 2)).toBe(3);
    await expect(add.with({ schema: z.string() })(1, 2)).rejects.toBeInstanceOf(ResultValidationError);
  });

  it("values no mapping covers fail before anything is sent, naming type and path", async () => {
    class Thing {}
    await expect(echo({ nested: [new Thing()] })).rejects.toThrow("args[0].nested[0]: an instance of Thing has no MessagePack mapping");
  });
});

describe("the type mapping, round trip through Python", () => {
  it("nested objects, Map, Date, BigInt, bytes, typed arrays, unicode, large ints and null come back equal", async () => {
    const value = {
      nested: { list: [1, 2.5, "three", [true, false]], empty: {}, none: null },
      map: new Map<unknown, unknown>([[1, "one"], [2, "two"]]),
      stringKeyed: new Map([["a", 1]]),
      when: new Date("2024-05-06T07:08:09.123Z"),
      big: 2n ** 100n,
      negBig: -(2n ** 70n) + 1n,
      int64: 2n ** 62n,
      large: 2 ** 45,
      bytes: new Uint8Array([0, 1, 254, 255]),
      floats: ndarray(new Float32Array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]), [2, 3]),
      doubles: new Float64Array([Math.PI, -0.5]),
      ints: new Int32Array([-7, 7]),
      unicode: "héllo wörld ✓ 日本語 🚀",
      nothing: null,
    };
    const back = (await echo(value)) as Record<string, unknown>;
    expect(back.nested).toEqual(value.nested);
    expect(back.map).toEqual(value.map);
    expect(back.stringKeyed).toEqual({ a: 1 });
    expect(back.when).toEqual(value.when);
    expect(back.big).toBe(value.big);
    expect(back.negBig).toBe(value.negBig);
    expect(back.int64).toBe(value.int64);
    expect(back.large).toBe(value.large);
    expect(back.bytes).toEqual(value.bytes);
    const floats = back.floats as Float32Array & { shape: number[]; dtype: string };
    expect(floats).toBeInstanceOf(Float32Array);
    expect([...floats]).toEqual([...value.floats]);
    expect(floats.shape).toEqual([2, 3]);
    expect(floats.dtype).toBe("<f4");
    expect([...(back.doubles as Float64Array)]).toEqual([Math.PI, -0.5]);
    expect(back.ints).toBeInstanceOf(Int32Array);
    expect(back.unicode).toBe(value.unicode);
    expect(back.nothing).toBeNull();
  });

  it("Python sees numpy arrays, datetimes, ints and bytes", async () => {
    const seen = await describeValue({
      floats: ndarray(new Float32Array(6), [3, 2]),
      when: new Date(),
      big: 2n ** 80n,
      bytes: new Uint8Array([1]),
      map: new Map([[1, 2]]),
    });
    expect(seen).toEqual({ floats: ["ndarray", "<f4", [3, 2]], when: ["datetime"], big: ["int"], bytes: ["bytes"], map: ["dict"] });
  });

  it("a numpy array made in Python comes back as a typed array with its shape", async () => {
    const m = await matrix(2, 3);
    expect(m).toBeInstanceOf(Float32Array);
    expect([...m]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(m.shape).toEqual([2, 3]);
  });
});

describe("streaming", () => {
  it("yields generator values as they are produced, with live log lines", async () => {
    logs.length = 0;
    const arrivals: number[] = [];
    const items: number[] = [];
    const started = Date.now();
    for await (const item of count.stream(5, 0.15)) {
      items.push(item);
      arrivals.push(Date.now() - started);
    }
    expect(items).toEqual([0, 1, 2, 3, 4]);
    // the first value arrived well before the generator finished (5 x 150 ms)
    expect(arrivals[4]! - arrivals[0]!).toBeGreaterThan(300);
    expect(logs.filter((l) => l.line.startsWith("tick ")).map((l) => l.line)).toEqual(["tick 0", "tick 1", "tick 2", "tick 3", "tick 4"]);
  });

  it("a plain call of a generator returns every value", async () => {
    expect(await count(4)).toEqual([0, 1, 2, 3]);
  });

  it("stopping the iteration early cancels the job and frees the worker", async () => {
    const items: number[] = [];
    for await (const item of count.stream(1000, 0.05)) {
      items.push(item);
      if (items.length === 2) break;
    }
    expect(items).toEqual([0, 1]);
    await expectWorkerFree(10_000);
  });
});

describe("classes", () => {
  it("a class is created and called three times with its state kept", async () => {
    const counter = await Counter.create(10);
    expect(counter.instanceId).toMatch(/^Counter_[0-9a-f]{8}$/);
    expect(await counter.incr()).toBe(11);
    expect(await counter.incr()).toBe(12);
    expect(await counter.incr()).toBe(13);
    expect(await counter.get()).toBe(13);
    expect(counter.rebuilds).toBe(0);
    expect(counter.lastCallRebuilt).toBe(false);
  });

  it("constructor kwargs, and a handle survives its instance being dropped: rebuilt, and it says so", async () => {
    const counter = await Counter.create(0, kwargs({ step: 5 }));
    expect(await counter.incr()).toBe(5);
    // The worker loses the instance (as when the job lands on another worker).
    const client = await getRuntime().endpoint(gpu);
    await client.runsync({ input: { execution_type: "destroy", instance_id: counter.instanceId } }, 5000);
    logs.length = 0;
    expect(await counter.incr()).toBe(5);
    expect(counter.rebuilds).toBe(1);
    expect(counter.lastCallRebuilt).toBe(true);
    expect(logs).toContainEqual(expect.objectContaining({ stream: "worker", line: expect.stringContaining(`instance ${counter.instanceId} was rebuilt`) }));
    expect(await counter.incr()).toBe(10);
    expect(counter.lastCallRebuilt).toBe(false);
  });

  it("destroy() drops the instance; the handle refuses later calls", async () => {
    const counter = await Counter.create(1);
    await counter.destroy();
    expect(counter.destroyed).toBe(true);
    await expect(counter.incr()).rejects.toBeInstanceOf(FerryError);
  });

  it("a constructor that raises fails create()", async () => {
    const Broken = py.class<CounterApi>("class Broken:\n    def __init__(self):\n        raise RuntimeError('no model')\n", "Broken");
    await expect(Broken.create()).rejects.toMatchObject({ name: "RemoteError", errorType: "RuntimeError", message: "no model" });
  });

  it("a handle is not a thenable and prints its identity", async () => {
    const counter = await Counter.create(0);
    expect((counter as unknown as { then?: unknown }).then).toBeUndefined();
    expect(typeof counter.incr).toBe("function");
  });
});

describe("cancel and timeout", () => {
  it("an abort mid-call rejects with CancelledError at once, and the worker is freed", async () => {
    const controller = new AbortController();
    const pending = spin.with({ signal: controller.signal })(30);
    await new Promise((r) => setTimeout(r, 1500));
    const abortedAt = Date.now();
    controller.abort();
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).jobId).toMatch(/\S/);
    expect(Date.now() - abortedAt).toBeLessThan(200);
    await expectWorkerFree(10_000);
  });

  it("an abort while /runsync is still held cancels the job once its id is known", async () => {
    const controller = new AbortController();
    const pending = spin.with({ signal: controller.signal })(30);
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    await expectWorkerFree(10_000);
  });

  it("an already aborted signal sends nothing", async () => {
    await expect(add.with({ signal: AbortSignal.abort() })(1, 2)).rejects.toBeInstanceOf(CancelledError);
  });

  it("timeoutMs rejects with RemoteTimeoutError and frees the worker", async () => {
    const started = Date.now();
    const error = await spin.with({ timeoutMs: 1500 })(30).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteTimeoutError);
    expect((error as RemoteTimeoutError).timeoutMs).toBe(1500);
    expect(Date.now() - started).toBeLessThan(3000);
    await expectWorkerFree(10_000);
  });
});
