/**
 * A local server's blob files, read and written whole: by the server for a caller in its own
 * process, and by the workers it started (handler/blobs/blob-transfers.ts), which reach the
 * same folder.
 */
import { constants } from "node:buffer";
import { randomUUID } from "node:crypto";
import { open, rename, rm, type FileHandle } from "node:fs/promises";

/** A blob that cannot be read whole: missing, or not the size its reference says. */
export class BlobReadError extends Error {
  override name = "BlobReadError";
}

/**
 * A blob is read in pieces of this size, all asked for at once: each read runs in a thread of
 * libuv's pool, and faulting in the fresh buffer's pages, most of a large read's time, then goes
 * on in several threads together (64 MB on 2 cores: about 150 ms against 260 ms in one read).
 */
const READ_PIECE_BYTES = 16 * 1024 * 1024;

/** Fills `out[start, end)` from the same range of the file. */
async function readPiece(file: FileHandle, out: Buffer, start: number, end: number, key: string): Promise<void> {
  for (let at = start; at < end; ) {
    const { bytesRead } = await file.read(out, at, end - at, at);
    if (bytesRead === 0) throw new BlobReadError(`blob ${key} ended after ${at} bytes; its reference says ${out.length} (truncated)`);
    at += bytesRead;
  }
}

/** The bytes of blob `key` (the file at `path`) in one buffer of `bytes`, the size its reference promised. */
export async function readBlobFile(path: string, key: string, bytes: number): Promise<Buffer> {
  if (bytes > constants.MAX_LENGTH) throw new BlobReadError(`blob ${key} is ${bytes} bytes, over the ${constants.MAX_LENGTH} bytes one value may be`);
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch {
    throw new BlobReadError(`blob ${key} does not exist (it was never written, or was already deleted)`);
  }
  try {
    const { size } = await file.stat();
    if (size !== bytes) throw new BlobReadError(`blob ${key} is ${size} bytes but its reference says ${bytes}`);
    const out = Buffer.allocUnsafe(bytes);
    const pieces: Promise<void>[] = [];
    for (let start = 0; start < bytes; start += READ_PIECE_BYTES) pieces.push(readPiece(file, out, start, Math.min(start + READ_PIECE_BYTES, bytes), key));
    await Promise.all(pieces);
    return out;
  } finally {
    await file.close();
  }
}

/** Writes `parts`, in order, as the file at `path` with one writev: beside it, then renamed, so a reader never sees half a blob. */
export async function writeBlobFile(path: string, parts: readonly Uint8Array[]): Promise<number> {
  const size = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const partial = `${path}.${randomUUID()}.part`;
  try {
    const file = await open(partial, "w");
    try {
      const { bytesWritten } = await file.writev(parts as Uint8Array[]);
      if (bytesWritten !== size) throw new Error(`wrote ${bytesWritten} of ${size} bytes`);
    } finally {
      await file.close();
    }
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return size;
}
