// Large results and yielded values leave the Python child as attachments (their own buffers,
// written beside the frame), or as files of their own when the job names a folder, and reach the
// worker byte for byte; a finished call's result is freed.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pack } from "msgpackr";
import type { EngineJob, PythonEngine } from "../../handler/engine/python-engine.ts";
import { FrameDecoder, type Frame } from "../../handler/engine/frames.ts";
import { ValueFile } from "../../handler/engine/value-file.ts";
import { decode, decodeBase64, encode } from "../../sdk/codec.ts";
import { newEngine } from "../helpers/engine.ts";
import { memoryProbeCode } from "../helpers/python-memory-probe.ts";

let engine: PythonEngine;

beforeAll(async () => {
  engine = newEngine();
  await engine.start();
});
afterAll(() => engine.stop());

const MiB = 1024 * 1024;

/** What `bytes(range(256)) * n` is. */
const encodeBytes = (n: number) => Buffer.concat(Array.from({ length: n }, () => Buffer.from(Array.from({ length: 256 }, (_, i) => i))));

/** A msgpack function job whose arguments are bytes, as the worker holds them after fetching blobs. */
function job(code: string, args: unknown[] = [], extra: Record<string, unknown> = {}): EngineJob {
  return {
    function_name: "f",
    function_code: code,
    args: args.map((a) => Buffer.from(encode(a))),
    kwargs: {},
    constructor_args: [],
    constructor_kwargs: {},
    serialization_format: "msgpack" as const,
    execution_type: "function" as const,
    ...extra,
  } as unknown as EngineJob;
}

/** The bytes a typed array views, for a byte-for-byte comparison. */
const bytesOf = (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength);

describe("large results", () => {
  it("with value_files, a result over the threshold is a file of its own in the folder; a folder it cannot write to falls back to the pipe", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-value-files-"));
    try {
      const code = "def f(n):\n    return bytes(range(256)) * n";
      const toFile = await engine.call(job(code, [1000], { value_files: { dir, threshold_bytes: 100_000 } }), { valuesAsBytes: true });
      expect(toFile.result_bytes).toBeUndefined();
      const file = toFile.result_file!;
      expect(file).toBeInstanceOf(ValueFile);
      const written = readFileSync(join(dir, file.name));
      expect(written.length).toBe(file.byteLength);
      expect(Buffer.from(decode(written) as Uint8Array).equals(Buffer.from(encodeBytes(1000)))).toBe(true);
      // Under the threshold, and with no folder to write to, the value comes through the pipe.
      const small = await engine.call(job(code, [300], { value_files: { dir, threshold_bytes: 100_000 } }), { valuesAsBytes: true });
      expect(small.result_bytes?.length).toBeGreaterThan(76_800);
      const fallback = await engine.call(job(code, [1000], { value_files: { dir: join(dir, "missing"), threshold_bytes: 100_000 } }), { valuesAsBytes: true });
      expect(Buffer.from(decode(fallback.result_bytes!) as Uint8Array).equals(Buffer.from(encodeBytes(1000)))).toBe(true);
      expect(readdirSync(dir)).toEqual([file.name]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a 64 MB float32 ndarray result comes back byte-identical, shape and dtype kept", async () => {
    const n = (64 * MiB) / 4;
    const code = "import numpy as np\ndef f(n):\n    return (np.arange(n, dtype=np.float32) % 65521 * 0.25).reshape(n // 1024, 1024)";
    const outcome = await engine.call(job(code, [n]), { valuesAsBytes: true });
    expect(outcome.error).toBeUndefined();
    expect(outcome.success).toBe(true);
    const array = decode(outcome.result_bytes!) as Float32Array & { shape: number[] };
    expect(array).toBeInstanceOf(Float32Array);
    expect(array.shape).toEqual([n / 1024, 1024]);
    const expected = new Float32Array(n);
    for (let i = 0; i < n; i++) expected[i] = (i % 65521) * 0.25;
    expect(bytesOf(array).equals(bytesOf(expected))).toBe(true);
  });

  it("a large array's data starts 8-byte aligned in the result, so the caller's array is a view where the bytes arrived", async () => {
    // Top level, in a map, and second in a list after a byte string of odd length: each array's
    // header is padded to put its data at a multiple of 8 from the document's start.
    const code = [
      "import numpy as np",
      "def f(kind):",
      "    a = (np.arange(1 << 18) % 1000).astype(np.float64)",
      "    b = (np.arange(3 * 5 * 7 * 1024) % 77).astype(np.int16).reshape(3, 5, 7, 1024)",
      "    return {'top': a, 'map': {'x': 1, 'a': a, 'name': 'abc'}, 'list': [b'z' * 100001, b, a]}[kind]",
    ].join("\n");
    for (const kind of ["top", "map", "list"]) {
      const outcome = await engine.call(job(code, [kind]), { valuesAsBytes: true });
      expect(outcome.success, outcome.error ?? undefined).toBe(true);
      const bytes = Buffer.from(outcome.result_bytes!); // a buffer of its own, at offset 0, as a downloaded blob is
      const value = decode(bytes, "result", true) as Float64Array | { a: Float64Array } | [Uint8Array, Int16Array, Float64Array];
      const arrays: ArrayBufferView[] = kind === "top" ? [value as Float64Array] : kind === "map" ? [(value as { a: Float64Array }).a] : (value as [Uint8Array, Int16Array, Float64Array]).slice(1);
      for (const array of arrays) {
        expect(array.buffer).toBe(bytes.buffer); // a view, not a copy
        expect(array.byteOffset % 8).toBe(0);
        // Not moved to align it: the bin 32 header (0xc6, then the length) is right in front of it.
        expect(bytes[array.byteOffset - 5]).toBe(0xc6);
        expect(bytes.readUInt32BE(array.byteOffset - 4)).toBe(array.byteLength);
      }
      expect(Array.from((arrays[arrays.length - 1] as Float64Array).subarray(998, 1002))).toEqual([998, 999, 0, 1]);
    }
  });

  it("a 5 MB bytes result comes back byte-identical, as base64 on the wire", async () => {
    const code = "def f():\n    return bytes(range(256)) * (5 * 4096)";
    const outcome = await engine.call(job(code));
    expect(outcome.success).toBe(true);
    const bytes = decodeBase64(outcome.result as string) as Uint8Array;
    const expected = Buffer.alloc(5 * MiB);
    for (let i = 0; i < expected.length; i++) expected[i] = i % 256;
    expect(Buffer.from(bytes).equals(expected)).toBe(true);
  });

  it("large values inside a structure (bytearray, memoryview, arrays) keep their places among small ones", async () => {
    const code = [
      "import numpy as np",
      "def f():",
      "    a = np.arange(100_000, dtype=np.int32)",
      "    return {'head': 'x', 'arrays': [a, a[::2], np.ones((2, 2))], 'blob': bytearray(b'\\x07' * 70_000), 'view': memoryview(b'\\x09' * 65_536), 'tail': 1}",
    ].join("\n");
    const outcome = await engine.call(job(code), { valuesAsBytes: true });
    expect(outcome.success).toBe(true);
    const value = decode(outcome.result_bytes!) as Record<string, unknown>;
    const [a, every2, ones] = value.arrays as Int32Array[];
    expect(Array.from(a!.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(a!.length).toBe(100_000);
    expect(a![99_999]).toBe(99_999);
    expect(every2!.length).toBe(50_000);
    expect(every2![49_999]).toBe(99_998);
    expect(Array.from(ones!)).toEqual([1, 1, 1, 1]);
    expect(Buffer.from(value.blob as Uint8Array).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(Buffer.from(value.view as Uint8Array).equals(Buffer.alloc(65_536, 9))).toBe(true);
    expect([value.head, value.tail]).toEqual(["x", 1]);
  });

  it("large yielded values stream byte-identical, in order, and a plain call's aggregate carries them too", async () => {
    const code = "import numpy as np\ndef f():\n    for i in range(3):\n        yield np.full(300_000, i, dtype=np.float64)\n    yield 'done'";
    const streamed: unknown[] = [];
    const outcome = await engine.call(job(code), { valuesAsBytes: true, onValue: (value) => streamed.push(decode(value as Uint8Array)) });
    expect(outcome.success).toBe(true);
    expect(outcome.stream_count).toBe(4);
    expect(streamed.slice(0, 3).map((v) => Array.from(new Set(v as Float64Array)))).toEqual([[0], [1], [2]]);
    expect(streamed[3]).toBe("done");
    const aggregate = await engine.call(job(code, [], { return_aggregate_stream: true }), { valuesAsBytes: true });
    const list = decode(aggregate.result_bytes!) as unknown[];
    expect(list.map((v) => (v instanceof Float64Array ? [v.length, v[0]] : v))).toEqual([[300_000, 0], [300_000, 1], [300_000, 2], "done"]);
  });

  it("a finished call's result and arguments are freed at once, with the cyclic collector off", async () => {
    const code = memoryProbeCode([
      "def make(x):",
      "    out = np.full(2 * 1024 * 1024, 1.5, dtype=np.float32)  # 8 MB",
      "    REFS.append(weakref.ref(out))",
      "    REFS.append(weakref.ref(x))",
      "    return out",
    ]);
    const call = (name: string, args: unknown[] = []) => engine.call({ ...job(code, args), function_name: name }, { valuesAsBytes: true });
    expect((await call("start")).success).toBe(true);
    for (let i = 0; i < 6; i++) {
      const outcome = await call("make", [new Float32Array(256 * 1024)]);
      expect(outcome.result_bytes!.byteLength).toBeGreaterThan(8 * MiB);
    }
    const [alive, traced] = decode((await call("alive")).result_bytes!) as [number, number];
    expect(alive).toBe(0);
    // 48 MB of results and 6 MB of arguments went through; what is still allocated is far less than one result.
    expect(traced).toBeLessThan(1 * MiB);
  });
});

describe("the frame decoder", () => {
  /** A frame as the child writes it: header, document, then each attachment's bytes. */
  function childFrame(frame: Record<string, unknown>, attachments: Buffer[]): Buffer {
    const body = Buffer.from(pack(attachments.length ? { ...frame, attachments: attachments.map((a) => a.length) } : frame));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    return Buffer.concat([header, body, ...attachments]);
  }

  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
  const stream = Buffer.concat([
    childFrame({ t: "log", id: 1, stream: "stdout", line: "hello" }, []),
    childFrame({ t: "yield", id: 1, index: 0, value: { $attachment: 0 } }, [big]),
    childFrame({ t: "result", id: 1, response: { success: true, result: { $attachment: 1 }, stdout: "" } }, [Buffer.alloc(0), Buffer.from("ab")]),
    childFrame({ t: "result", id: 2, response: { success: true, result: Buffer.from("small"), stdout: "" } }, []),
  ]);

  function decodeInChunks(size: number): Frame[] {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (let at = 0; at < stream.length; at += size) frames.push(...decoder.push(stream.subarray(at, at + size)));
    return frames;
  }

  it("puts attachments back where the document marks them, however the stream is cut", () => {
    for (const size of [1, 3, 4, 5, 7, 4096, 65_536, stream.length]) {
      const frames = decodeInChunks(size);
      expect(frames.map((f) => f.t)).toEqual(["log", "yield", "result", "result"]);
      expect(frames[0]).toEqual({ t: "log", id: 1, stream: "stdout", line: "hello" });
      expect(Buffer.from(frames[1]!.value as Uint8Array).equals(big)).toBe(true);
      const results = frames.slice(2).map((f) => Buffer.from((f.response as { result: Uint8Array }).result).toString());
      expect(results).toEqual(["ab", "small"]);
      expect(frames.every((f) => !("attachments" in f))).toBe(true);
    }
  });

  it("refuses an attachment larger than the frame limit, and a marker past the attachments listed", () => {
    const decoder = new FrameDecoder(1000);
    const header = Buffer.alloc(4);
    const body = Buffer.from(pack({ t: "yield", id: 1, index: 0, value: { $attachment: 0 }, attachments: [5000] }));
    header.writeUInt32BE(body.length);
    expect(() => decoder.push(Buffer.concat([header, body]))).toThrow(/5000 bytes exceeds the 1000-byte limit/);
    const stray = childFrame({ t: "yield", id: 1, index: 0, value: { $attachment: 3 } }, [Buffer.from("x")]);
    expect(() => new FrameDecoder().push(stray)).toThrow(/marks attachment 3 but lists 1/);
    const named = childFrame({ t: "result", id: 1, response: { success: true, result: { $attachment: "constructor" } } }, [Buffer.from("x")]);
    expect(() => new FrameDecoder().push(named)).toThrow(/marks attachment constructor but lists 1/);
  });

  it("hands a value file on by name, and refuses a name the child may not write (a path out of the folder)", () => {
    const name = `child-${"ab".repeat(16)}.value`;
    const [ok] = new FrameDecoder().push(childFrame({ t: "result", id: 1, response: { success: true, result: { $file: { name, bytes: 7 } }, stdout: "" } }, []));
    expect((ok!.response as { result: unknown }).result).toEqual(new ValueFile(name, 7));
    for (const bad of [{ name: "../../etc/passwd", bytes: 5 }, { name, bytes: -1 }, { name: `/tmp/${name}`, bytes: 1 }, "x"]) {
      const frame = childFrame({ t: "yield", id: 1, index: 0, value: { $file: bad } }, []);
      expect(() => new FrameDecoder().push(frame)).toThrow(/is not one the child may write/);
    }
  });
});
