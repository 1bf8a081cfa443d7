/**
 * Frames between the worker and its Python child: a 4-byte big-endian length, then one
 * MessagePack map. Plain MessagePack (no msgpackr records), so Python's `msgpack` reads it.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from "msgpackr";

/** Larger frames are refused from the length alone, before any buffer is allocated for them. */
export const MAX_FRAME_BYTES = Number(process.env.FERRY_MAX_FRAME_BYTES ?? 1024 * 1024 * 1024);

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

export type Frame = Record<string, unknown> & { t: string };

export function encodeFrame(frame: Frame): Buffer {
  // The length goes into four bytes reserved in front of the packed body: a large frame is
  // never copied again just to prepend its header.
  const out = packr.pack(frame, RESERVE_START_SPACE | 4);
  out.writeUInt32BE(out.length - 4, 0);
  return out;
}

/** Byte values at least this large travel beside a frame's document instead of inside it. */
export const ATTACHMENT_MIN_BYTES = 64 * 1024;
const ATTACHED_FIELDS = ["args", "constructor_args", "kwargs", "constructor_kwargs"] as const;

/**
 * A call's job with its large byte arguments taken out: each becomes `{"$attachment": i}` in the
 * document, and its bytes are written after the frame as they are, never copied into the
 * MessagePack document (the frame lists their sizes in `attachments`). The child reads each into
 * a buffer of its own, which a numpy array can then use without another copy.
 */
export function detachLargeBytes(job: Record<string, unknown>): { job: Record<string, unknown>; attachments: Uint8Array[] } {
  const attachments: Uint8Array[] = [];
  const detach = (item: unknown) => {
    if (!(item instanceof Uint8Array) || item.byteLength < ATTACHMENT_MIN_BYTES) return item;
    attachments.push(item);
    return { $attachment: attachments.length - 1 };
  };
  const out: Record<string, unknown> = { ...job };
  for (const field of ATTACHED_FIELDS) {
    const value = job[field];
    if (Array.isArray(value)) out[field] = value.map(detach);
    else if (value && typeof value === "object") out[field] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, detach(v)]));
  }
  return { job: out, attachments };
}

export class FrameTooLargeError extends Error {
  override name = "FrameTooLargeError";
}

/** Splits a byte stream into frames; feed it chunks as they arrive. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes) {
        throw new FrameTooLargeError(`frame of ${length} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
      }
      if (this.buffered < 4 + length) break;
      const whole = this.take(4 + length);
      frames.push(unpackr.unpack(whole.subarray(4)) as Frame);
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks.length > 1 && this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    const rest = first.subarray(n);
    if (rest.length) this.chunks[0] = rest;
    else this.chunks.shift();
    this.buffered -= n;
    return out;
  }
}
