/**
 * Large values' memory in the worker, given back soon after a value is passed on.
 *
 * The worker holds a value's bytes (a fetched argument blob, a result read from the child) in
 * memory outside V8's heap, which V8 frees only when a full collection finds it unreachable; it
 * schedules one by how much such memory grew (tens of MB), not by how little of its heap is in
 * use. Left to that, a worker that moves a 256 MB value keeps dead copies of it next to the live
 * one, and one that serves many 5 MB calls settles tens of MB above idle, most of it the socket's
 * and the pipe's 64 KB read buffers the bytes arrived in. A full collection after every
 * COLLECT_EVERY_BYTES moved frees them all, at a few ms per collection against a heap of a few MB;
 * with glibc's mmap threshold fixed (protocol/malloc-env.ts), a freed value buffer's pages go
 * back to the system at once.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

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
