/**
 * The MessagePack mapping between TypeScript values and Python values (docs/internals.md).
 *
 * Plain MessagePack (msgpackr with `useRecords: false`), which Python's `msgpack` reads, plus
 * three extension types: 1 ndarray (`[dtype, shape, data]`), 2 big integer (decimal text),
 * -1 timestamp. Values are checked and prepared in one walk before packing, so a value with no
 * mapping fails with its type and its path (`args[1].model: an instance of Foo ...`) instead of
 * being packed as something Python would misread.
 *
 * Decoding: a dict becomes a plain object when all its keys are strings, else a Map; bytes
 * become a Uint8Array; an ndarray becomes a typed array with `shape` and `dtype` properties; an
 * integer becomes a number when it is a safe integer, else a bigint.
 */
import { Packr, Unpackr, addExtension } from "msgpackr";
import { bytesOf, decodingOwnedBuffer, EXT_NDARRAY, NdArrayValue, packNdPayload, prepareBytes, prepareTypedArray, unpackNdPayload, type NumericTypedArray } from "./codec-ndarray.ts";
import { joinParts, packParts, SplicedBytes, writeSpliced, type EncodedValue } from "./codec-parts.ts";
import { SerializationError } from "./errors.ts";

export { ndarray, type NdArray, type NumericTypedArray } from "./codec-ndarray.ts";
export type { EncodedValue } from "./codec-parts.ts";

const EXT_BIGINT = 2;

/** An integer outside the 64-bit range; msgpackr writes it as ext 2. */
class BigIntValue {
  constructor(readonly value: bigint) {}
}

// msgpackr keeps extensions in module state; these two classes are the codec's own (only its
// walk makes them), so registering them cannot change how anyone else's values are packed.
addExtension({ Class: NdArrayValue, type: EXT_NDARRAY, pack: (v: NdArrayValue) => packNdPayload(v), unpack: (b: Uint8Array) => unpackNdPayload(b) });
// A large array or bytes value: msgpackr hands pack a writer at its position (an argument its
// types leave out), and the run writes its own header there (codec-parts.ts). Its unpack is
// the ndarray's: registering a type sets the reader of that type too.
addExtension({
  Class: SplicedBytes,
  type: EXT_NDARRAY,
  pack: ((v: SplicedBytes, allocate: Parameters<typeof writeSpliced>[1]) => writeSpliced(v, allocate)) as unknown as (v: SplicedBytes) => Uint8Array,
  unpack: (b: Uint8Array) => unpackNdPayload(b),
});
addExtension({
  Class: BigIntValue,
  type: EXT_BIGINT,
  pack: (v: BigIntValue) => Buffer.from(v.value.toString(), "utf8"),
  unpack: (b: Uint8Array) => parseBigIntPayload(b),
});

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false, useFloat32: 0 });
// "auto" (a number when safe, else a bigint) is supported by msgpackr but missing from its types.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: "auto" as "bigint", moreTypes: false });

const INT64_MIN = -(2n ** 63n);
const UINT64_LIMIT = 2n ** 64n;
const INT32_MIN = -(2 ** 31);
const UINT32_MAX = 2 ** 32 - 1;

function childPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function describe(value: unknown): string {
  if (typeof value === "function") return `a function${value.name ? ` (${value.name})` : ""}`;
  if (typeof value === "symbol") return `a symbol (${String(value)})`;
  if (value && typeof value === "object") {
    const name = (value as object).constructor?.name;
    return name ? `an instance of ${name}` : "an object with a custom prototype";
  }
  return typeof value;
}

function unsupported(path: string, value: unknown, hint?: string): SerializationError {
  return new SerializationError(path, `${describe(value)} has no MessagePack mapping${hint ? ` (${hint})` : ""}`);
}

/**
 * Checks `value` against the mapping and returns what msgpackr packs. Only containers and the
 * values msgpackr would write differently are replaced; the input is never modified.
 */
function prepare(value: unknown, path: string, seen: Set<object>): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "undefined":
      return null;
    case "number":
      // msgpackr writes integers beyond 32 bits as float64; as int64 Python gets an int.
      if (Number.isInteger(value) && (value < INT32_MIN || value > UINT32_MAX) && Number.isSafeInteger(value)) return BigInt(value);
      return value;
    case "bigint":
      return value >= INT64_MIN && value < UINT64_LIMIT ? value : new BigIntValue(value);
    case "function":
    case "symbol":
      throw unsupported(path, value);
  }
  if (value === null) return null;
  const obj = value as object;
  if (ArrayBuffer.isView(obj)) {
    if (obj instanceof DataView) return prepareBytes(bytesOf(obj));
    const prepared = prepareTypedArray(obj as NumericTypedArray, path);
    if (prepared === undefined) throw unsupported(path, obj);
    return prepared;
  }
  if (obj instanceof ArrayBuffer) return prepareBytes(new Uint8Array(obj));
  if (obj instanceof Date) {
    if (Number.isNaN(obj.getTime())) throw new SerializationError(path, "an invalid Date cannot be sent");
    return obj;
  }
  if (seen.has(obj)) throw new SerializationError(path, "a circular reference cannot be sent");
  if (Array.isArray(obj)) {
    seen.add(obj);
    const out = new Array<unknown>(obj.length);
    for (let i = 0; i < obj.length; i++) out[i] = prepare(obj[i], `${path}[${i}]`, seen);
    seen.delete(obj);
    return out;
  }
  if (obj instanceof Map) {
    seen.add(obj);
    const out = new Map<unknown, unknown>();
    for (const [key, entry] of obj) {
      const keyLabel = typeof key === "string" || typeof key === "number" ? key : String(key);
      const keyPath = childPath(path, keyLabel);
      if (key !== null && typeof key === "object" && !(key instanceof Date))
        throw new SerializationError(keyPath, `${describe(key)} cannot be a dict key (use a string, number, bigint, boolean, null or Date)`);
      out.set(prepare(key, keyPath, seen), prepare(entry, keyPath, seen));
    }
    seen.delete(obj);
    return out;
  }
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) {
    if (obj instanceof Set) throw unsupported(path, obj, "convert it to an array: [...set]");
    if (obj instanceof Promise) throw unsupported(path, obj, "await it first");
    throw unsupported(path, obj, "send a plain object, array, Map or typed array");
  }
  seen.add(obj);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    const prepared = prepare((obj as Record<string, unknown>)[key], childPath(path, key), seen);
    if (key === "__proto__") Object.defineProperty(out, key, { value: prepared, enumerable: true, writable: true, configurable: true });
    else out[key] = prepared;
  }
  seen.delete(obj);
  return out;
}

/**
 * MessagePack of one value as parts: large arrays and bytes are sent from the caller's own
 * memory, beside the small document around them (codec-parts.ts). `path` names the value in
 * errors (`args[0]`, `kwargs.top_k`).
 */
export function encodeParts(value: unknown, path = "value"): EncodedValue {
  const prepared = prepare(value, path, new Set());
  try {
    return packParts(() => packr.pack(prepared));
  } catch (cause) {
    throw new SerializationError(path, `cannot be packed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** MessagePack bytes of one value, in one buffer. */
export function encode(value: unknown, path = "value"): Uint8Array {
  return joinParts(encodeParts(value, path));
}

/** Base64 of one value's MessagePack bytes: the form args, kwargs and results take on the wire. */
export function encodeBase64(value: unknown, path = "value"): string {
  const bytes = encode(value, path);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/**
 * The value `bytes` encode. With `owned` (the buffer is this decode's alone and is not read
 * again), large arrays are views into it instead of copies.
 */
export function decode(bytes: Uint8Array, path = "value", owned = false): unknown {
  let raw: unknown;
  try {
    raw = owned ? decodingOwnedBuffer(() => unpackr.unpack(bytes)) : unpackr.unpack(bytes);
  } catch (cause) {
    if (cause instanceof SerializationError) throw new SerializationError(path, cause.message);
    throw new SerializationError(path, `cannot be decoded as MessagePack: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  return finish(raw);
}

export function decodeBase64(text: string, path = "value"): unknown {
  if (typeof text !== "string") throw new SerializationError(path, `expected base64 text, got ${typeof text}`);
  return decode(Buffer.from(text, "base64"), path, true);
}

/** Turns msgpackr's Maps into plain objects where all keys are strings, and Buffers into Uint8Arrays. */
function finish(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value === undefined ? null : value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = finish(value[i]);
    return value;
  }
  if (value instanceof Map) {
    let allStrings = true;
    for (const key of value.keys()) {
      if (typeof key !== "string") {
        allStrings = false;
        break;
      }
    }
    if (allStrings) {
      const out: Record<string, unknown> = {};
      for (const [key, entry] of value as Map<string, unknown>) {
        if (key === "__proto__") Object.defineProperty(out, key, { value: finish(entry), enumerable: true, writable: true, configurable: true });
        else out[key] = finish(entry);
      }
      return out;
    }
    const out = new Map<unknown, unknown>();
    for (const [key, entry] of value) out.set(finish(key), finish(entry));
    return out;
  }
  if (Buffer.isBuffer(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return value;
}

function parseBigIntPayload(payload: Uint8Array): bigint {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
  if (!/^-?\d+$/.test(text)) throw new SerializationError("bigint", `ext 2 payload ${JSON.stringify(text.slice(0, 40))} is not a decimal integer`);
  return BigInt(text);
}
