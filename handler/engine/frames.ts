/**
 * Frames between the worker and its Python child: a 4-byte big-endian length, then one
 * MessagePack map. Plain MessagePack (no msgpackr records), so Python's `msgpack` reads it.
 */
import { Packr, Unpackr } from "msgpackr";

/** Larger frames are refused from the length alone, before any buffer is allocated for them. */
export const MAX_FRAME_BYTES = Number(process.env.FERRY_MAX_FRAME_BYTES ?? 1024 * 1024 * 1024);

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

export type Frame = Record<string, unknown> & { t: string };

export function encodeFrame(frame: Frame): Buffer {
  const body = packr.pack(frame);
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
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
