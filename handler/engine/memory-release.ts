/**
 * Gives a large value's memory back once the worker has passed it on.
 *
 * The worker holds a value's bytes (a fetched argument blob, a result read from the child) in
 * Buffers that live outside V8's heap. V8 frees those only when a full collection finds them
 * unreachable, and it schedules one by the growth of that outside memory (tens of MB at a
 * time), not by how little of its own heap is in use. Left to itself, a worker that moves a
 * 256 MB value keeps the dead copies of it alive next to the live one, and one that serves
 * many 5 MB calls settles tens of MB above idle. A full collection right after a large value is
 * passed on frees them at once (a few ms against a heap of a few MB, paid only by calls that
 * moved at least LARGE_TRANSFER_BYTES).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Calls that move less than this leave collection to V8's own schedule. */
export const LARGE_TRANSFER_BYTES = 1024 * 1024;

let fullCollection: (() => void) | undefined;

function collector(): () => void {
  if (!fullCollection) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) fullCollection = exposed;
    else {
      // The flag makes V8 install `gc` in contexts created after it is set: a new one hands it
      // over without exposing it to the rest of the worker.
      setFlagsFromString("--expose-gc");
      fullCollection = runInNewContext("gc") as () => void;
    }
  }
  return fullCollection;
}

/**
 * After `bytes` were passed on (written to the child, uploaded): frees their dead copies when
 * they were many. It runs once the callbacks under way have returned: the write or request that
 * reports the transfer done still holds the buffer while it reports.
 */
export function releaseAfterTransfer(bytes: number): void {
  if (bytes >= LARGE_TRANSFER_BYTES) setImmediate(collector());
}
