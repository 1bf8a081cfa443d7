/**
 * The MessagePack mapping: round trips in TypeScript, the exact bytes of the extension types,
 * errors that name a value's type and path, and the same values through the Python runner's
 * own decode/encode functions (handler/python/ferry_runner/values.py), so both sides agree on the wire.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decode, decodeBase64, encode, encodeBase64, ndarray } from "../../sdk/codec.ts";
import { SerializationError } from "../../sdk/errors.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const roundTrip = (value: unknown) => decode(encode(value));

describe("round trips in TypeScript", () => {
  it("keeps scalars, strings, unicode, null, nested containers", () => {
    const value = { a: 1, b: -2.5, c: "héllo ✓ 🚀 日本", d: null, e: [true, false, [1, [2, [3]]]], f: { g: { h: "deep" } }, i: "" };
    expect(roundTrip(value)).toEqual(value);
  });

  it("sends undefined as None (null back)", () => {
    expect(roundTrip([undefined, { x: undefined }])).toEqual([null, { x: null }]);
  });

  it("keeps integers beyond 32 bits as integers, safe ones as numbers", () => {
    expect(roundTrip(2 ** 40)).toBe(2 ** 40);
    expect(roundTrip(-(2 ** 50))).toBe(-(2 ** 50));
    expect(roundTrip(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
    // int64, not float64, on the wire: 0xd3 (Python reads an int)
    expect(hex(encode(2 ** 40)).slice(0, 2)).toBe("d3");
  });

  it("bigints: within 64 bits as msgpack ints, beyond as ext 2 decimal text", () => {
    expect(roundTrip(12n)).toBe(12);
    expect(roundTrip(2n ** 63n - 1n)).toBe(2n ** 63n - 1n);
    expect(roundTrip(2n ** 64n - 1n)).toBe(2n ** 64n - 1n);
    const big = -123456789012345678901234567890n;
    expect(roundTrip(big)).toBe(big);
    expect(roundTrip(2n ** 64n)).toBe(2n ** 64n);
    // ext 2 ("c7" ext8, length, type 0x02, UTF-8 digits)
    const text = Buffer.from(big.toString());
    expect(hex(encode(big))).toBe(`c7${text.length.toString(16).padStart(2, "0")}02${text.toString("hex")}`);
  });

  it("Dates go as MessagePack timestamps (ext -1) and come back equal", () => {
    const dates = [new Date("2024-05-06T07:08:09.123Z"), new Date(0), new Date("1960-01-01T00:00:00.5Z"), new Date("2200-01-01T00:00:00Z")];
    for (const d of dates) expect(roundTrip(d)).toEqual(d);
    expect(hex(encode(new Date(1000))).slice(0, 4)).toBe("d6ff");
    expect(() => encode({ when: new Date(NaN) }, "args[0]")).toThrow("args[0].when: an invalid Date cannot be sent");
  });

  it("Maps: string keys come back as plain objects, other keys as a Map", () => {
    expect(roundTrip(new Map([["a", 1], ["b", 2]]))).toEqual({ a: 1, b: 2 });
    const mixed = new Map<unknown, unknown>([[1, "one"], ["two", 2], [true, null]]);
    expect(roundTrip(mixed)).toEqual(mixed);
    expect(roundTrip({ nested: new Map([[3n ** 50n, "big key"]]) })).toEqual({ nested: new Map([[3n ** 50n, "big key"]]) });
  });

  it("a __proto__ key stays data", () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, unknown>;
    const back = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(["__proto__", "ok"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("Uint8Array and Buffer go as bytes and come back as Uint8Array", () => {
    const back = roundTrip({ b: new Uint8Array([0, 255, 7]), buf: Buffer.from("hi") }) as { b: Uint8Array; buf: Uint8Array };
    expect(back.b).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(back.b)).toBe(false);
    expect([...back.b]).toEqual([0, 255, 7]);
    expect([...back.buf]).toEqual([...Buffer.from("hi")]);
    expect(hex(encode(new Uint8Array([1, 2])))).toBe("c4020102");
  });

  it("Float32Array <-> ext 1: [dtype, shape, raw little-endian bytes]", () => {
    const bytes = encode(new Float32Array([1.5, -2]));
    // c7 <len> 01 | 93 a3 "<f4" 91 02 c4 08 <8 bytes>
    expect(hex(bytes)).toBe("c7110193a33c663491" + "02" + "c408" + "0000c03f" + "000000c0");
    const back = decode(bytes) as Float32Array & { shape: number[]; dtype: string };
    expect(back).toBeInstanceOf(Float32Array);
    expect([...back]).toEqual([1.5, -2]);
    expect(back.shape).toEqual([2]);
    expect(back.dtype).toBe("<f4");
  });

  it("typed arrays keep dtype and shape; ndarray() sets a shape", () => {
    const cases = [
      ndarray(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]),
      ndarray(new Int32Array([-1, 2, -3, 4]), [2, 2]),
      new Int8Array([-128, 127]),
      new Uint16Array([65535]),
      new BigInt64Array([-(2n ** 63n), 5n]),
      ndarray(new Uint8Array([1, 0, 1]), [3], "|b1"),
      ndarray(new Float32Array([]), [0, 4]),
    ];
    for (const value of cases) {
      const back = roundTrip(value) as typeof value & { shape: number[]; dtype: string };
      expect(back.constructor).toBe(value.constructor);
      expect([...back]).toEqual([...value]);
      expect(back.shape).toEqual((value as { shape?: number[] }).shape ?? [value.length]);
    }
    expect((roundTrip(ndarray(new Uint8Array([1, 0]), [2], "|b1")) as { dtype: string }).dtype).toBe("|b1");
  });

  it("a shape that does not fit the data is refused", () => {
    expect(() => ndarray(new Float32Array(3), [2, 2])).toThrow(SerializationError);
    const bad = Object.assign(new Float32Array(3), { shape: [4] });
    expect(() => encode({ x: bad }, "args[0]")).toThrow("args[0].x: shape [4] holds 4 elements but the array has 3");
  });

  it("base64 is the wire form of one value", () => {
    const text = encodeBase64({ k: [1, 2] });
    expect(text).toBe(Buffer.from(encode({ k: [1, 2] })).toString("base64"));
    expect(decodeBase64(text)).toEqual({ k: [1, 2] });
  });
});

describe("values with no mapping fail with their type and path", () => {
  class Model {}
  const cases: [unknown, string][] = [
    [{ fn: () => 1 }, "args[0].fn: a function (fn) has no MessagePack mapping"],
    [[1, Symbol("s")], "args[0][1]: a symbol (Symbol(s)) has no MessagePack mapping"],
    [{ nested: [{ model: new Model() }] }, "args[0].nested[0].model: an instance of Model has no MessagePack mapping"],
    [{ "a key": new Set([1]) }, 'args[0]["a key"]: an instance of Set has no MessagePack mapping (convert it to an array: [...set])'],
    [{ p: Promise.resolve(1) }, "args[0].p: an instance of Promise has no MessagePack mapping (await it first)"],
    [new Map([[{ a: 1 }, 1]]), "cannot be a dict key"],
  ];
  it.each(cases)("%#", (value, message) => {
    expect(() => encode(value, "args[0]")).toThrow(message);
    try {
      encode(value, "args[0]");
    } catch (error) {
      expect(error).toBeInstanceOf(SerializationError);
      expect((error as SerializationError).name).toBe("SerializationError");
    }
  });

  it("circular references are refused, shared ones are fine", () => {
    const shared = { x: 1 };
    expect(roundTrip([shared, shared])).toEqual([{ x: 1 }, { x: 1 }]);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => encode(loop, "kwargs.cfg")).toThrow("kwargs.cfg.self: a circular reference cannot be sent");
  });

  it("undecodable input fails with the path it was read for", () => {
    expect(() => decode(new Uint8Array([0x92, 0x01]), "result")).toThrow(/^result: /);
    expect(() => decode(Buffer.from("c703010102", "hex"), "yield[0]")).toThrow(/yield\[0\]/);
  });
});

describe("the Python runner reads and writes the same values", () => {
  const python = (() => {
    try {
      return readFileSync(".ferry/python", "utf8").trim() || "python3";
    } catch {
      return process.env.FERRY_PYTHON ?? "python3";
    }
  })();

  // Each line in: base64 of a value. Each line out: a description of what Python decoded, and
  // the runner's own encoding of it (what a result carrying it would be).
  const script = `
import sys, json, datetime, base64
sys.path.insert(0, "handler/python")
from ferry_runner import values
for line in sys.stdin:
    value = values.decode_value(line.strip(), "msgpack", "args[0]")
    def describe(v):
        t = type(v).__name__
        if t == "ndarray":
            return {"type": "ndarray", "dtype": v.dtype.str, "shape": list(v.shape), "sum": float(v.sum()) if v.size else 0.0}
        if isinstance(v, dict):
            return {"type": "dict", "items": [[repr(k), describe(x)] for k, x in v.items()]}
        if isinstance(v, list):
            return {"type": "list", "items": [describe(x) for x in v]}
        if isinstance(v, datetime.datetime):
            return {"type": "datetime", "iso": v.isoformat()}
        if isinstance(v, int) and not isinstance(v, bool):
            return {"type": "int", "repr": repr(v)}
        return {"type": t, "repr": repr(v)}
    print(json.dumps({"seen": describe(value), "back": base64.b64encode(values.encode_value(value, "msgpack", "result")).decode("ascii")}))
`;

  it("decodes every mapped type to the Python type the table promises, and encodes it back equal", () => {
    const values: unknown[] = [
      { nested: { list: [1, 2.5, "ß"], none: null } },
      new Map<unknown, unknown>([[1, "one"], ["k", true]]),
      new Date("2024-05-06T07:08:09.123Z"),
      2n ** 70n,
      -(2n ** 64n) - 5n,
      2 ** 40,
      new Uint8Array([1, 2, 3]),
      ndarray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]),
      new Int32Array([7, -8]),
      ndarray(new Uint8Array([1, 0, 1, 1]), [2, 2], "|b1"),
      "unicode ✓ 🚀",
      null,
    ];
    const input = values.map((v) => encodeBase64(v, "args[0]")).join("\n") + "\n";
    const out = execFileSync(python, ["-c", script], { input, encoding: "utf8", timeout: 20_000 })
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seen: Record<string, unknown>; back: string });

    expect(out[0]!.seen).toMatchObject({ type: "dict" });
    expect(out[1]!.seen).toEqual({ type: "dict", items: [["1", { type: "str", repr: "'one'" }], ["'k'", { type: "bool", repr: "True" }]] });
    expect(out[2]!.seen).toEqual({ type: "datetime", iso: "2024-05-06T07:08:09.123000+00:00" });
    expect(out[3]!.seen).toEqual({ type: "int", repr: (2n ** 70n).toString() });
    expect(out[4]!.seen).toEqual({ type: "int", repr: (-(2n ** 64n) - 5n).toString() });
    expect(out[5]!.seen).toEqual({ type: "int", repr: String(2 ** 40) });
    expect(out[6]!.seen).toEqual({ type: "bytes", repr: "b'\\x01\\x02\\x03'" });
    expect(out[7]!.seen).toEqual({ type: "ndarray", dtype: "<f4", shape: [2, 3], sum: 21 });
    expect(out[8]!.seen).toEqual({ type: "ndarray", dtype: "<i4", shape: [2], sum: -1 });
    expect(out[9]!.seen).toMatchObject({ type: "ndarray", dtype: "|b1", shape: [2, 2] });
    expect(out[10]!.seen).toEqual({ type: "str", repr: "'unicode ✓ 🚀'" });
    expect(out[11]!.seen).toEqual({ type: "NoneType", repr: "None" });

    const back = out.map((o) => decodeBase64(o.back, "result"));
    expect(back[0]).toEqual(values[0]);
    expect(back[1]).toEqual(values[1]);
    expect(back[2]).toEqual(values[2]);
    expect(back[3]).toBe(2n ** 70n);
    expect(back[4]).toBe(-(2n ** 64n) - 5n);
    expect(back[5]).toBe(2 ** 40);
    expect(back[6]).toEqual(new Uint8Array([1, 2, 3]));
    const f = back[7] as Float32Array & { shape: number[] };
    expect(f).toBeInstanceOf(Float32Array);
    expect([...f]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.shape).toEqual([2, 3]);
    expect([...(back[8] as Int32Array)]).toEqual([7, -8]);
    expect((back[9] as { dtype: string; shape: number[] }).dtype).toBe("|b1");
    expect(back[10]).toBe("unicode ✓ 🚀");
    expect(back[11]).toBeNull();
  });
});
