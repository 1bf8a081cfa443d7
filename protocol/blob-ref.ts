/**
 * Values by reference: how a large encoded value travels beside the job instead of inside it.
 *
 * An argument (args, kwargs, constructor args) whose encoded bytes are over the caller's
 * threshold is sent as `{"ferry_blob": {"url", "bytes"}}`: the worker GETs the URL (a presigned
 * S3 URL, or the local server's blob route with a capability token) and checks the size. For
 * results and yielded values the caller hands out places to write in `blob_outputs`: a list of
 * PUT URLs used in order, and the threshold above which a value goes there; the value then
 * reads `{"ferry_blob": {"slot", "bytes"}}` and the caller fetches it from the slot it made.
 * The worker needs no storage credentials: only HTTP GET and PUT.
 */
import { z } from "zod";

/** The default threshold: encoded values above 1 MB travel by reference. */
export const DEFAULT_BLOB_THRESHOLD_BYTES = 1024 * 1024;
/** A blob key of the local server: when it was made (ms), then a UUID. Nothing else names a blob file. */
export const BLOB_KEY_PATTERN = /^[0-9]{13}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A local server's blob folder, and the prefix of the URLs that name files in it: a worker the
 * server started reads and writes those blobs in the folder itself (handler/blobs/blob-transfers.ts).
 * The server hands them to its workers in these environment variables.
 */
export interface LocalBlobFolder {
  dir: string;
  urlPrefix: string;
}
export const LOCAL_BLOB_DIR_ENV = "FERRY_LOCAL_BLOB_DIR";
export const LOCAL_BLOB_URL_ENV = "FERRY_LOCAL_BLOB_URL";

/** More output places than any sane stream needs; bounds what a request can make the worker hold. */
export const MAX_BLOB_OUTPUTS = 4096;

const httpUrl = z
  .string()
  .max(8192)
  .refine((u) => /^https?:\/\//i.test(u), "must be an http(s) URL");

const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** An argument stored as a blob. */
export const BlobInputRefSchema = z.object({ ferry_blob: z.object({ url: httpUrl, bytes: byteCount }).strict() }).strict();
export type BlobInputRef = z.infer<typeof BlobInputRefSchema>;

/** A result or yielded value the worker wrote to `blob_outputs.put_urls[slot]`. */
export const BlobOutputRefSchema = z.object({ ferry_blob: z.object({ slot: z.number().int().nonnegative(), bytes: byteCount }).strict() }).strict();
export type BlobOutputRef = z.infer<typeof BlobOutputRefSchema>;

/** Where the worker may put values too large to answer inline. */
export const BlobOutputsSchema = z.object({
  threshold_bytes: byteCount,
  put_urls: z.array(httpUrl).max(MAX_BLOB_OUTPUTS),
});
export type BlobOutputs = z.infer<typeof BlobOutputsSchema>;

export function isBlobRef(value: unknown): value is { ferry_blob: Record<string, unknown> } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && "ferry_blob" in value;
}

export function blobOutputRef(slot: number, bytes: number): BlobOutputRef {
  return { ferry_blob: { slot, bytes } };
}
