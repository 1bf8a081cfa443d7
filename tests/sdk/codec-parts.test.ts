/**
 * Large values on the way out and back without full-size copies: encodeParts leaves the bytes of
 * large arrays and bytes in the caller's own memory, beside a small document, and the parts in
 * order are MessagePack the Python runner reads; decoding a buffer the decode owns keeps large
 * arrays as views into it, aligned in place, at every misalignment a document can give them.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decode, encode, encodeParts, ndarray } from "../../sdk/codec.ts";
import { joinParts, SPLICE_MIN_BYTES } from "../../sdk/codec-parts.ts";

const python = (() => {
  try {
    return readFileSync(".ferry/python", "utf8").trim() || "python3";
  } catch {
    return process.env.FERRY_PYTHON ?? "python3";
  }
})();

function ramp<T extends Float32Array | Float64Array | Int16Array | Uint8Array>(array: T): T {
  for (let i = 0; i < array.length; i++) array[i] = i % 251;
  return array;
}

describe("encodeParts", () => {
  const matrix = ndarray(ramp(new Float32Array(512 * 256)), [512, 256]);
  const bytes = ramp(new Uint8Array(300_000));
  const view = new DataView(ramp(new Uint8Array(SPLICE_MIN_BYTES)).buffer);
  const value = { label: "weights ✓", matrix, nested: [1, { bytes, view }], small: new Float64Array([1.5, 2.5]) };

  it("sends large arrays and bytes from the caller's own memory, the rest as a small document", () => {
    const encoded = encodeParts(value, "args[0]");
    const fromCaller = encoded.parts.filter((part) => part.buffer === matrix.buffer || part.buffer === bytes.buffer || part.buffer === view.buffer);
    expect(fromCaller.map((part) => part.byteLength)).toEqual([matrix.byteLength, bytes.byteLength, view.byteLength]);
    const rest = encoded.byteLength - matrix.byteLength - bytes.byteLength - view.byteLength;
    expect(rest).toBeLessThan(200);
    expect(encoded.parts.reduce((sum, part) => sum + part.byteLength, 0)).toBe(encoded.byteLength);
    // Encoding copied nothing: the caller's arrays are unchanged and still theirs.
    expect(matrix[1000]).toBe(1000 % 251);
  });

  it("joins to MessagePack that decodes back equal, here and in the Python runner", () => {
    const joined = joinParts(encodeParts(value, "args[0]"));
    expect(Buffer.from(joined).equals(Buffer.from(encode(value)))).toBe(true);
    const back = decode(joined) as typeof value;
    expect(back.label).toBe(value.label);
    expect(Buffer.from(back.matrix.buffer, back.matrix.byteOffset, back.matrix.byteLength).equals(Buffer.from(matrix.buffer))).toBe(true);
    expect((back.matrix as unknown as { shape: number[] }).shape).toEqual([512, 256]);
    expect(Buffer.from((back.nested[1] as { bytes: Uint8Array }).bytes).equals(bytes)).toBe(true);

    const script = `
import sys, json, base64
sys.path.insert(0, "handler/python")
from ferry_runner import values
v = values.decode_value(sys.stdin.read().strip(), "msgpack", "args[0]")
print(json.dumps({"label": v["label"], "dtype": v["matrix"].dtype.str, "shape": list(v["matrix"].shape), "sum": float(v["matrix"].sum()),
  "bytes": [type(v["nested"][1]["bytes"]).__name__, len(v["nested"][1]["bytes"]), sum(v["nested"][1]["bytes"])],
  "view": len(v["nested"][1]["view"]), "small": v["small"].tolist()}))
`;
    const seen = JSON.parse(execFileSync(python, ["-c", script], { input: Buffer.from(joined).toString("base64"), encoding: "utf8", timeout: 20_000 })) as Record<string, unknown>;
    expect(seen).toEqual({
      label: "weights ✓",
      dtype: "<f4",
      shape: [512, 256],
      sum: matrix.reduce((a, b) => a + b, 0),
      bytes: ["bytes", bytes.length, bytes.reduce((a, b) => a + b, 0)],
      view: SPLICE_MIN_BYTES,
      small: [1.5, 2.5],
    });
  });

  it("keeps small arrays in the document", () => {
    const encoded = encodeParts({ a: new Float32Array(100), b: new Uint8Array(SPLICE_MIN_BYTES - 1) });
    expect(encoded.parts).toHaveLength(1);
  });
});

describe("decoding a buffer the decode owns", () => {
  // A string before the array moves its bytes to every offset modulo 8.
  it.each([0, 1, 2, 3, 4, 5, 6, 7])("keeps a large float64 array as an aligned view when %i bytes shift it", (pad) => {
    const array = ramp(new Float64Array(SPLICE_MIN_BYTES / 8 + 3));
    const received = Buffer.from(joinParts(encodeParts(["x".repeat(pad), array])));
    const copy = Buffer.from(received);
    const [, owned] = decode(received, "result", true) as [string, Float64Array];
    expect(owned.buffer).toBe(received.buffer);
    expect(owned.byteOffset % 8).toBe(0);
    expect(owned).toEqual(array);
    const [, copied] = decode(copy, "result") as [string, Float64Array];
    expect(copied.buffer).not.toBe(copy.buffer);
    expect(copied).toEqual(array);
  });

  it("copies small arrays out, so that they never hold the received buffer", () => {
    const received = Buffer.from(encode([1, ramp(new Int16Array(100))]));
    const [, small] = decode(received, "result", true) as [number, Int16Array];
    expect(small.buffer).not.toBe(received.buffer);
    expect(small.buffer.byteLength).toBe(200);
  });
});
