/**
 * Finishing a partial blob left by an interrupted download.
 *
 * This fills a gap in @huggingface/hub: `downloadFileToCacheDir` streams into
 * `blobs/<etag>.incomplete` (the name Python uses too) but always starts it from byte 0, so
 * after a dropped connection on a multi-gigabyte file all bytes already on disk are fetched
 * again. Here a `Range: bytes=<have>-` request appends the rest, the size (and, for LFS files,
 * the sha256 the hub lists) is checked, and only then is the file renamed to its blob name.
 * The library's function then finds the blob and only creates the snapshot symlink.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm, stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { HubApiError } from "@huggingface/hub";
import { IncompleteFileError } from "./errors.ts";

export interface ResumeParams {
  incomplete: string;
  blob: string;
  /** The file's download URL (the library's `fileDownloadInfo` resolves it). */
  url: string;
  size: number;
  /** LFS files: the sha256 the hub lists, checked after a resume. */
  sha256?: string;
  fetch: typeof fetch;
  signal?: AbortSignal;
  /** Called once with the bytes already on disk when a resume starts. */
  onExisting?: (bytes: number) => void;
}

/** Size of a partial download worth resuming, or 0. */
export async function partialSize(incomplete: string): Promise<number> {
  try {
    return (await stat(incomplete)).size;
  } catch {
    return 0;
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/** Completes `incomplete` and renames it to `blob`; returns the bytes that were already there. */
export async function resumePartialBlob(p: ResumeParams): Promise<number> {
  let have = await partialSize(p.incomplete);
  if (have > p.size) {
    await rm(p.incomplete, { force: true });
    have = 0;
  }
  if (have < p.size) {
    const response = await p.fetch(p.url, { headers: { Range: `bytes=${have}-` }, ...(p.signal ? { signal: p.signal } : {}) });
    if (!response.ok) throw new HubApiError(response.url || p.url, response.status, undefined, `HTTP ${response.status} resuming a download`);
    const ranged = response.status === 206 && (response.headers.get("content-range") ?? "").startsWith(`bytes ${have}-`);
    // A server that ignores Range sends the whole file: start over rather than append it.
    if (!ranged) have = 0;
    p.onExisting?.(have);
    if (!response.body) throw new IncompleteFileError("empty response body");
    await pipeline(Readable.fromWeb(response.body as NodeReadableStream), createWriteStream(p.incomplete, { flags: ranged ? "a" : "w" }));
  } else {
    p.onExisting?.(have);
  }
  const got = await partialSize(p.incomplete);
  if (got !== p.size) {
    if (got > p.size) await rm(p.incomplete, { force: true });
    throw new IncompleteFileError(`${p.blob}: ${got} of ${p.size} bytes after resuming`);
  }
  if (p.sha256 && (await sha256File(p.incomplete)) !== p.sha256) {
    await rm(p.incomplete, { force: true });
    throw new IncompleteFileError(`${p.blob}: sha256 differs from the hub's after resuming; the partial file was removed`);
  }
  await rename(p.incomplete, p.blob);
  return have;
}
