/**
 * Large values' memory in the worker, given back soon after a value is passed on.
 *
 * The worker holds a value's bytes (a fetched argument blob, a result read from the child) in
 * memory outside V8's heap, which V8 frees only when a full collection finds it unreachable; it
 * schedules one by how much such memory grew (tens of MB), not by how little of its heap is in
 * use. Left to that, a worker that moves a 256 MB value keeps dead copies of it next to the live
 * one, and one that serves many 5 MB calls settles tens of MB above idle. A large value the
 * engine reads from the child is held in a resizable ArrayBuffer, and its owner shrinks that to
 * nothing once the bytes are written on (to an output place): the pages go back to the system at
 * once, with no collection to wait for.
 *
 * Everything else a value leaves behind only a collection frees: a fetched blob's buffer once the
 * child has it, the socket's and the pipe's small read buffers the bytes arrived in. A full
 * collection after every COLLECT_EVERY_BYTES moved bounds that, at a few ms per collection
 * against a heap of a few MB.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Smaller values are left to V8's own schedule: their buffers are cheap to keep for a while. */
export const RELEASABLE_MIN_BYTES = 1024 * 1024;

/** ES2024's resizable ArrayBuffer, which the project's lib (ES2023) does not declare yet. */
interface ResizableArrayBuffer extends ArrayBuffer {
  readonly resizable: boolean;
  resize(byteLength: number): void;
}
const ResizableArrayBufferCtor = ArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => ResizableArrayBuffer;

/** A buffer of `size` bytes; from RELEASABLE_MIN_BYTES on, one whose memory `release` gives back at once. */
export function allocateValueBuffer(size: number): Buffer {
  if (size < RELEASABLE_MIN_BYTES) return Buffer.allocUnsafe(size);
  return Buffer.from(new ResizableArrayBufferCtor(size, { maxByteLength: size }), 0, size);
}

/**
 * Gives a buffer from allocateValueBuffer back to the system (any other is left to the
 * collector). Only its owner may call this, once nothing reads it any more: every view of it
 * reads as empty afterwards.
 */
export function release(bytes: unknown): void {
  if (!(bytes instanceof Uint8Array)) return;
  const memory = bytes.buffer as ResizableArrayBuffer;
  if (memory.resizable) memory.resize(0);
}

/** Bytes moved between full collections: the most read-buffer garbage the worker keeps. */
export const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;

let moved = 0;
let fullCollection: (() => void) | undefined;

function collector(): () => void {
  if (!fullCollection) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) fullCollection = exposed;
    else {
      // With the flag set, V8 gives contexts created afterwards a `gc`: a new one hands it over
      // without exposing it to the rest of the worker.
      setFlagsFromString("--expose-gc");
      fullCollection = runInNewContext("gc") as () => void;
    }
  }
  return fullCollection;
}

/**
 * Counts `bytes` a value moved through the worker; every COLLECT_EVERY_BYTES, a full collection
 * once the callbacks under way have returned (they may still hold the value's read buffers).
 */
export function countTransfer(bytes: number): void {
  moved += bytes;
  if (moved < COLLECT_EVERY_BYTES) return;
  moved = 0;
  setImmediate(collector());
}
