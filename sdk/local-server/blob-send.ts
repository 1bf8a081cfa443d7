/**
 * Sends a blob file as an HTTP answer body through two buffers used in turn: while one is on its
 * way to the socket, the next piece of the file is read into the other. A read stream would
 * allocate a fresh buffer for every piece, and on a machine where first touching memory is slow
 * (a VM's page faults) those allocations, not the bytes, are most of the time.
 */
import { open, type FileHandle } from "node:fs/promises";
import type { ServerResponse } from "node:http";

/** Bytes read from the file at a time: large, so that few trips go through libuv's thread pool. */
const PIECE_BYTES = 1024 * 1024;

/** Resolves once `piece` has been handed to the socket; rejects if the answer broke off. */
function writePiece(res: ServerResponse, piece: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    res.write(piece, (error) => (error ? reject(error) : resolve()));
  });
}

/** Writes `size` bytes of the file at `path` to `res` and ends it. A client that goes away ends the send quietly. */
export async function sendBlobFile(path: string, size: number, res: ServerResponse): Promise<void> {
  let file: FileHandle | undefined;
  try {
    file = await open(path, "r");
    const buffers = [Buffer.allocUnsafeSlow(Math.min(PIECE_BYTES, size)), Buffer.allocUnsafeSlow(Math.min(PIECE_BYTES, size))] as const;
    const inFlight: (Promise<void> | undefined)[] = [undefined, undefined];
    let position = 0;
    for (let turn = 0; position < size && !res.destroyed; turn ^= 1) {
      await inFlight[turn];
      const buffer = buffers[turn]!;
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, size - position), position);
      if (bytesRead === 0) break;
      position += bytesRead;
      inFlight[turn] = writePiece(res, buffer.subarray(0, bytesRead));
      // A failed write is seen when its buffer's turn comes back, or below.
      inFlight[turn]!.catch(() => undefined);
    }
    await Promise.all(inFlight);
    // A file shorter than its size when the answer began cannot be answered whole: the
    // connection is cut, so the reader sees a truncated body rather than a short one that ends cleanly.
    if (position < size) res.destroy();
    else res.end();
  } catch {
    res.destroy();
  } finally {
    await file?.close();
  }
}
