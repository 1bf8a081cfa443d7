/**
 * Large byte runs kept out of the packed document. A value's MessagePack is sent as parts: the
 * document msgpackr packs, with the bytes of each large array or bytes value left out, and those
 * bytes themselves, straight from the caller's typed array. The parts in order are exactly the
 * value's MessagePack, so an upload sends them one after another and no full-size copy is made.
 *
 * While packing, each large run writes its MessagePack header and then a marker: 16 random bytes
 * drawn for this one encode. The document is then cut at each marker, and the run's bytes go
 * where the marker was. A marker cannot be forged by the value: it is drawn after the value is
 * given, and the chance that a value holds it by accident is 2^-128.
 */
import { randomFillSync } from "node:crypto";

/** Byte runs at least this long are left out of the document and sent from their own memory. */
export const SPLICE_MIN_BYTES = 64 * 1024;

const MARKER_BYTES = 16;

/** A value's MessagePack as consecutive parts. */
export interface EncodedValue {
  parts: Uint8Array[];
  byteLength: number;
}

/** A large byte run as packed: its MessagePack header (ext or bin), then its bytes. */
export class SplicedBytes {
  constructor(
    readonly head: Uint8Array,
    readonly bytes: Uint8Array,
  ) {}
}

/** The bin header of `n` bytes. */
export function binHead(n: number): Uint8Array {
  if (n < 256) return Uint8Array.of(0xc4, n);
  if (n < 65536) return Uint8Array.of(0xc5, n >> 8, n & 0xff);
  return Uint8Array.of(0xc6, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** The ext header of type `type` over a payload of `n` bytes (never the fixext forms: only long payloads are spliced). */
export function extHead(type: number, n: number): Uint8Array {
  if (n < 256) return Uint8Array.of(0xc7, n, type);
  if (n < 65536) return Uint8Array.of(0xc8, n >> 8, n & 0xff, type);
  return Uint8Array.of(0xc9, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, type);
}

type Allocate = (size: number) => { target: Uint8Array; position: number };

/** The runs of the encode under way, in the order they were packed, and its marker. */
let packing: { marker: Uint8Array; runs: SplicedBytes[] } | undefined;

/** msgpackr's pack for a SplicedBytes: the header and the marker, written in place. */
export function writeSpliced(value: SplicedBytes, allocate: Allocate): void {
  if (!packing) throw new Error("a large byte run was packed outside packParts");
  const { target, position } = allocate(value.head.byteLength + MARKER_BYTES);
  target.set(value.head, position);
  target.set(packing.marker, position + value.head.byteLength);
  packing.runs.push(value);
}

/** Runs `pack` with markers armed, then cuts its document at each marker. */
export function packParts(pack: () => Uint8Array): EncodedValue {
  const marker = randomFillSync(new Uint8Array(MARKER_BYTES));
  packing = { marker, runs: [] };
  let doc: Uint8Array;
  let runs: SplicedBytes[];
  try {
    doc = pack();
    runs = packing.runs;
  } finally {
    packing = undefined;
  }
  if (runs.length === 0) return { parts: [doc], byteLength: doc.byteLength };
  const parts: Uint8Array[] = [];
  const text = Buffer.from(doc.buffer, doc.byteOffset, doc.byteLength);
  let from = 0;
  let byteLength = 0;
  for (const run of runs) {
    const at = text.indexOf(marker, from);
    if (at < 0) throw new Error("a large byte run's marker is missing from the packed document");
    parts.push(doc.subarray(from, at), run.bytes);
    byteLength += at - from + run.bytes.byteLength;
    from = at + MARKER_BYTES;
  }
  parts.push(doc.subarray(from));
  byteLength += doc.byteLength - from;
  return { parts: parts.filter((part) => part.byteLength > 0), byteLength };
}

/** The parts as one buffer (no copy when there is one part). */
export function joinParts(value: EncodedValue): Uint8Array {
  if (value.parts.length === 1) return value.parts[0]!;
  const out = Buffer.allocUnsafe(value.byteLength);
  let at = 0;
  for (const part of value.parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
