/**
 * Frames between the worker and its Python child: a 4-byte big-endian length, then one
 * MessagePack map, then the attachments the map lists by size in `attachments`. Plain
 * MessagePack (no msgpackr records), so Python's `msgpack` reads it.
 *
 * An attachment is one value's encoded bytes kept out of the document, both ways: large byte
 * arguments go to the child that way, and the child sends a large result or yielded value that
 * way, written from its own memory. Each is read into one buffer of its announced size.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from "msgpackr";
import { VALUE_FILE_NAME, ValueFile } from "./value-file.ts";

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

export class UnreadableFrameError extends Error {
  override name = "UnreadableFrameError";
}

/** The marker's `$attachment` (any value: checked against the attachments listed), or undefined for any other item. */
function attachmentMark(item: unknown): { index: unknown } | undefined {
  if (!item || typeof item !== "object" || !("$attachment" in item)) return undefined;
  return { index: (item as { $attachment: unknown }).$attachment };
}

/** The marker's file (`{"$file": {"name", "bytes"}}`) as a ValueFile, or undefined for any other item. */
function fileMark(item: unknown): ValueFile | undefined {
  if (!item || typeof item !== "object" || !("$file" in item)) return undefined;
  const { name, bytes } = ((item as { $file: unknown }).$file ?? {}) as { name?: unknown; bytes?: unknown };
  if (typeof name !== "string" || !VALUE_FILE_NAME.test(name) || typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw new UnreadableFrameError(`a frame marks a value file ${JSON.stringify(name)} of ${String(bytes)} bytes, which is not one the child may write`);
  }
  return new ValueFile(name, bytes);
}

/**
 * A frame from the child with its attachments put back where its document marks them
 * (`{"$attachment": i}`), and its value files (`{"$file": ...}`) as ValueFiles: a result's
 * encoded value (`response.result`) or a yielded one (`value`).
 */
function attach(frame: Frame, attached: Buffer[]): Frame {
  const resolve = (item: unknown): unknown => {
    const file = fileMark(item);
    if (file) return file;
    const mark = attachmentMark(item);
    if (!mark) return item;
    const { index } = mark;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= attached.length) {
      throw new UnreadableFrameError(`a frame marks attachment ${String(index)} but lists ${attached.length}`);
    }
    return attached[index];
  };
  const out: Frame = { ...frame };
  delete out.attachments;
  if (out.t === "yield") out.value = resolve(out.value);
  const response = out.response as Record<string, unknown> | undefined;
  if (out.t === "result" && response && typeof response === "object") response.result = resolve(response.result);
  return out;
}

/**
 * Splits a byte stream into frames; feed it chunks as they arrive. A frame body that one chunk
 * holds whole is used where it lies; any other body, and every attachment, is copied once into
 * a buffer of its announced size (an attachment owns its buffer: a result does not hold on to
 * the pipe's chunks), never gathered in pieces and joined.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(4);
  private headerFilled = 0;
  /** The body or attachment being filled, and how much of it is. */
  private target?: Buffer;
  private filled = 0;
  /** A frame whose document is read, waiting for its attachments. */
  private waiting?: { frame: Frame; sizes: number[]; attached: Buffer[] };

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.target) {
        const n = Math.min(this.target.length - this.filled, chunk.length - at);
        chunk.copy(this.target, this.filled, at, at + n);
        this.filled += n;
        at += n;
        if (this.filled === this.target.length) {
          const done = this.target;
          this.target = undefined;
          this.received(done, frames);
        }
        continue;
      }
      const n = Math.min(4 - this.headerFilled, chunk.length - at);
      chunk.copy(this.header, this.headerFilled, at, at + n);
      this.headerFilled += n;
      at += n;
      if (this.headerFilled < 4) break;
      this.headerFilled = 0;
      const length = this.checkedSize(this.header.readUInt32BE(0), "frame");
      if (chunk.length - at >= length) {
        this.received(chunk.subarray(at, at + length), frames);
        at += length;
      } else this.expect(length);
    }
    return frames;
  }

  private checkedSize(size: unknown, what: string): number {
    if (typeof size !== "number" || !Number.isInteger(size) || size < 0) throw new UnreadableFrameError(`${what} size ${String(size)} is not a byte count`);
    if (size > this.maxFrameBytes) throw new FrameTooLargeError(`${what} of ${size} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
    return size;
  }

  private expect(size: number): void {
    // Plain malloc'd memory (from 1 MB its own mapping, on huge pages where the worker runs with
    // protocol/malloc-env.ts): a V8 resizable ArrayBuffer, which could be shrunk at once after
    // use, is committed 4 KB at a time, and filling one is the slowest step of a large result.
    this.target = Buffer.allocUnsafe(size);
    this.filled = 0;
  }

  /** A frame body or an attachment, whole. */
  private received(bytes: Buffer, frames: Frame[]): void {
    if (!this.waiting) {
      const frame = unpackr.unpack(bytes) as Frame;
      const sizes = Array.isArray(frame.attachments) ? frame.attachments.map((size) => this.checkedSize(size, "attachment")) : [];
      this.waiting = { frame, sizes, attached: [] };
    } else this.waiting.attached.push(bytes);
    this.next(frames);
  }

  /** Expects the waiting frame's next attachment, or emits the frame when it has them all. */
  private next(frames: Frame[]): void {
    const waiting = this.waiting!;
    while (waiting.attached.length < waiting.sizes.length) {
      const size = waiting.sizes[waiting.attached.length]!;
      if (size > 0) return this.expect(size);
      waiting.attached.push(Buffer.alloc(0));
    }
    this.waiting = undefined;
    const { t } = waiting.frame;
    frames.push(t === "result" || t === "yield" ? attach(waiting.frame, waiting.attached) : waiting.frame);
  }
}
