/**
 * Typed arrays as numpy arrays: the `ndarray()` marker that gives a typed array numpy's shape
 * and dtype, and the payload of MessagePack extension 1 (`[dtype, shape, data]`, C order,
 * little-endian), written and read by hand so no nested msgpackr call is needed.
 *
 * Decoding keeps numpy's dtype where a typed array has it; float16 widens to float32, and a
 * big-endian array is swapped to this host's order.
 */
import { binHead, extHead, SPLICE_MIN_BYTES, SplicedBytes } from "./codec-parts.ts";
import { SerializationError } from "./errors.ts";

/** MessagePack extension type of an ndarray. */
export const EXT_NDARRAY = 1;

const UINT32_MAX = 2 ** 32 - 1;

/** The typed arrays that travel as numpy arrays of the same dtype. */
export type NumericTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** A typed array that carries numpy's shape (C order) and dtype (`"<f4"`). */
export type NdArray<T extends NumericTypedArray = NumericTypedArray> = T & { readonly shape: number[]; readonly dtype: string };

const DTYPE_OF = new Map<Function, string>([
  [Int8Array, "|i1"],
  [Uint8Array, "|u1"],
  [Uint8ClampedArray, "|u1"],
  [Int16Array, "<i2"],
  [Uint16Array, "<u2"],
  [Int32Array, "<i4"],
  [Uint32Array, "<u4"],
  [Float32Array, "<f4"],
  [Float64Array, "<f8"],
  [BigInt64Array, "<i8"],
  [BigUint64Array, "<u8"],
]);

type TypedArrayCtor = { new (buffer: ArrayBuffer, byteOffset?: number, length?: number): NumericTypedArray; BYTES_PER_ELEMENT: number };

const CTOR_OF: Record<string, TypedArrayCtor> = {
  i1: Int8Array,
  u1: Uint8Array,
  b1: Uint8Array,
  i2: Int16Array,
  u2: Uint16Array,
  i4: Int32Array,
  u4: Uint32Array,
  f4: Float32Array,
  f8: Float64Array,
  i8: BigInt64Array,
  u8: BigUint64Array,
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Attaches numpy's shape (and optionally dtype, e.g. `"|b1"` for a bool mask) to a typed array. */
export function ndarray<T extends NumericTypedArray>(data: T, shape: readonly number[], dtype?: string): NdArray<T> {
  const size = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SerializationError("ndarray", `shape must be non-negative integers, got [${shape.join(", ")}]`);
  if (size !== data.length) throw new SerializationError("ndarray", `shape [${shape.join(", ")}] holds ${size} elements but the array has ${data.length}`);
  Object.defineProperty(data, "shape", { value: [...shape], enumerable: false, configurable: true, writable: true });
  Object.defineProperty(data, "dtype", { value: dtype ?? DTYPE_OF.get(data.constructor) ?? "|u1", enumerable: false, configurable: true, writable: true });
  return data as NdArray<T>;
}

/** Marks a value the walk prepared as ndarray; msgpackr writes it as ext 1. */
export class NdArrayValue {
  constructor(
    readonly dtype: string,
    readonly shape: number[],
    readonly bytes: Uint8Array,
  ) {}
}

/** The bytes a view covers, without a copy. */
export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * A typed array as it is packed: a Uint8Array without a shape is bytes; any other is an
 * ndarray of its dtype and shape (one dimension by default). Undefined for an array with no
 * numpy dtype.
 */
export function prepareTypedArray(value: NumericTypedArray, path: string): Uint8Array | NdArrayValue | SplicedBytes | undefined {
  const carried = value as Partial<NdArray>;
  const shape = carried.shape;
  const isBytes = value instanceof Uint8Array && shape === undefined;
  if (isBytes) return prepareBytes(value);
  const dtype = typeof carried.dtype === "string" ? carried.dtype : DTYPE_OF.get(value.constructor);
  if (!dtype) return undefined;
  let dims: number[] = [value.length];
  if (shape !== undefined) {
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new SerializationError(path, "the typed array's `shape` must be an array of non-negative integers");
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== value.length) throw new SerializationError(path, `shape [${shape.join(", ")}] holds ${size} elements but the array has ${value.length}`);
    dims = shape;
  }
  if (!LITTLE_ENDIAN && value.BYTES_PER_ELEMENT > 1) throw new SerializationError(path, "typed arrays are sent little-endian; this host is big-endian");
  const nd = new NdArrayValue(dtype, dims, bytesOf(value));
  if (nd.bytes.byteLength < SPLICE_MIN_BYTES) return nd;
  const head = ndPayloadHead(nd);
  return new SplicedBytes(Buffer.concat([extHead(EXT_NDARRAY, head.byteLength + nd.bytes.byteLength), head]), nd.bytes);
}

/** Bytes as packed: as they are, or, when large, to be sent from their own memory. */
export function prepareBytes(bytes: Uint8Array): Uint8Array | SplicedBytes {
  return bytes.byteLength < SPLICE_MIN_BYTES ? bytes : new SplicedBytes(binHead(bytes.byteLength), bytes);
}

function strHeader(length: number): number[] {
  if (length < 32) return [0xa0 | length];
  if (length < 256) return [0xd9, length];
  return [0xda, length >> 8, length & 0xff];
}

function uintBytes(n: number): number[] {
  if (n < 128) return [n];
  if (n < 256) return [0xcc, n];
  if (n < 65536) return [0xcd, n >> 8, n & 0xff];
  if (n <= UINT32_MAX) return [0xce, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const out = [0xcf];
  const big = BigInt(n);
  for (let shift = 56n; shift >= 0n; shift -= 8n) out.push(Number((big >> shift) & 0xffn));
  return out;
}

/** The ext 1 payload up to the array's bytes: `[dtype, shape,` and the data's bin header. */
function ndPayloadHead(v: NdArrayValue): Uint8Array {
  const dtype = Buffer.from(v.dtype, "ascii");
  const head: number[] = [0x93, ...strHeader(dtype.length), ...dtype];
  head.push(...(v.shape.length < 16 ? [0x90 | v.shape.length] : [0xdc, v.shape.length >> 8, v.shape.length & 0xff]));
  for (const d of v.shape) head.push(...uintBytes(d));
  head.push(...binHead(v.bytes.byteLength));
  return Uint8Array.from(head);
}

export function packNdPayload(v: NdArrayValue): Uint8Array {
  const head = ndPayloadHead(v);
  const out = new Uint8Array(head.length + v.bytes.byteLength);
  out.set(head, 0);
  out.set(v.bytes, head.length);
  return out;
}

/**
 * Whether decoding may keep a large array in the received buffer's memory (a view, moved by at
 * most 7 bytes to align it) instead of copying it out: set while decoding a buffer that belongs
 * to the decode alone (a downloaded blob, base64 decoded for this value).
 */
let receivedBufferOwned = false;

/** Runs `decode` with large arrays kept in the buffer it reads (see receivedBufferOwned). */
export function decodingOwnedBuffer<T>(decode: () => T): T {
  receivedBufferOwned = true;
  try {
    return decode();
  } finally {
    receivedBufferOwned = false;
  }
}

/**
 * The array's bytes at an offset aligned to `align` in their buffer. A view where the buffer is
 * the decode's own: moved back in place when misaligned, over the payload's own header, which is
 * read already and no one reads again. Otherwise a copy (typed arrays need aligned offsets).
 */
function alignedData(data: Uint8Array, align: number): Uint8Array {
  if (!receivedBufferOwned || data.byteLength < SPLICE_MIN_BYTES) return Uint8Array.prototype.slice.call(data) as Uint8Array;
  const shift = data.byteOffset % align;
  if (shift === 0) return data;
  const whole = new Uint8Array(data.buffer, 0, data.byteOffset + data.byteLength);
  whole.copyWithin(data.byteOffset - shift, data.byteOffset);
  return whole.subarray(data.byteOffset - shift, data.byteOffset - shift + data.byteLength);
}

class PayloadReader {
  pos = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.byteLength) throw new SerializationError("ndarray", "truncated ndarray payload");
  }
  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  arrayLength(): number {
    const b = this.byte();
    if ((b & 0xf0) === 0x90) return b & 0x0f;
    if (b === 0xdc) return this.u16();
    if (b === 0xdd) return this.u32();
    throw new SerializationError("ndarray", `expected an array in the ndarray payload (byte 0x${b.toString(16)})`);
  }
  string(): string {
    const b = this.byte();
    let n: number;
    if ((b & 0xe0) === 0xa0) n = b & 0x1f;
    else if (b === 0xd9) n = this.byte();
    else if (b === 0xda) n = this.u16();
    else if (b === 0xdb) n = this.u32();
    else if (b === 0xc4 || b === 0xc5 || b === 0xc6) n = b === 0xc4 ? this.byte() : b === 0xc5 ? this.u16() : this.u32();
    else throw new SerializationError("ndarray", "expected the dtype string in the ndarray payload");
    this.need(n);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n).toString("utf8");
    this.pos += n;
    return s;
  }
  int(): number {
    const b = this.byte();
    if (b < 0x80) return b;
    if (b >= 0xe0) return b - 256;
    let v: number;
    switch (b) {
      case 0xcc:
        return this.byte();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        this.need(8);
        v = Number(this.view.getBigUint64(this.pos));
        this.pos += 8;
        return v;
      case 0xd0:
        this.need(1);
        return this.view.getInt8(this.pos++);
      case 0xd1:
        this.need(2);
        v = this.view.getInt16(this.pos);
        this.pos += 2;
        return v;
      case 0xd2:
        this.need(4);
        v = this.view.getInt32(this.pos);
        this.pos += 4;
        return v;
      case 0xd3:
        this.need(8);
        v = Number(this.view.getBigInt64(this.pos));
        this.pos += 8;
        return v;
      default:
        throw new SerializationError("ndarray", "expected an integer in the ndarray shape");
    }
  }
  bin(): Uint8Array {
    const b = this.byte();
    let n: number;
    if (b === 0xc4) n = this.byte();
    else if (b === 0xc5) n = this.u16();
    else if (b === 0xc6) n = this.u32();
    else throw new SerializationError("ndarray", "expected the data bytes in the ndarray payload");
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export function unpackNdPayload(payload: Uint8Array): NdArray {
  const r = new PayloadReader(payload);
  const fields = r.arrayLength();
  if (fields !== 3) throw new SerializationError("ndarray", `the ndarray payload has ${fields} fields, expected 3 ([dtype, shape, data])`);
  const dtype = r.string();
  const dims = r.arrayLength();
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(r.int());
  const data = r.bin();
  const m = /^([<>|=])([biuf])(\d+)$/.exec(dtype);
  if (!m) throw new SerializationError("ndarray", `dtype ${JSON.stringify(dtype)} has no typed array (supported: bool, int8-64, uint8-64, float16-64)`);
  const [, order, kind, size] = m as unknown as [string, string, string, string];
  const size_ = Number(size);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count * size_ !== data.byteLength)
    throw new SerializationError("ndarray", `shape [${shape.join(", ")}] of ${dtype} needs ${count * size_} bytes, the payload has ${data.byteLength}`);
  const copy = alignedData(data, size_);
  if (order === ">" && size_ > 1) {
    for (let i = 0; i < copy.length; i += size_) copy.subarray(i, i + size_).reverse();
  }
  if (kind === "f" && size_ === 2) {
    const halves = new Uint16Array(copy.buffer, copy.byteOffset, count);
    const out = new Float32Array(halves.length);
    for (let i = 0; i < halves.length; i++) out[i] = halfToFloat(halves[i]!);
    return ndarray(out, shape, "<f4");
  }
  const ctor = CTOR_OF[`${kind}${size_}`];
  if (!ctor) throw new SerializationError("ndarray", `dtype ${JSON.stringify(dtype)} has no typed array`);
  const normalized = kind === "b" ? "|b1" : size_ === 1 ? `|${kind}1` : `<${kind}${size_}`;
  return ndarray(new ctor(copy.buffer as ArrayBuffer, copy.byteOffset, count), shape, normalized);
}

