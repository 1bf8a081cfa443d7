/**
 * The job's encoded values on their way in and out of the worker.
 *
 * In: each argument is base64 text or a `ferry_blob` reference; both become the bytes the
 * Python child gets (references fetched, all at once). Out: the child's bytes become
 * base64 text, or, above the request's threshold and while it has places left, a blob written
 * to the next `blob_outputs` PUT URL and answered as `{"ferry_blob": {"slot", "bytes"}}`.
 */
import { blobOutputRef, isBlobRef, type BlobOutputRef, type BlobOutputs } from "../../protocol/blob-ref.ts";
import type { FunctionRequest } from "../../protocol/wire.ts";
import { ValueFile } from "../engine/value-file.ts";
import type { BlobTransfers } from "./blob-transfers.ts";

export class ArgumentBlobError extends Error {
  override name = "ArgumentBlobError";
}

type ArgumentFields = Pick<FunctionRequest, "args" | "kwargs" | "constructor_args" | "constructor_kwargs">;
export type ResolvedArguments = { [K in keyof ArgumentFields]: ArgumentFields[K] extends unknown[] ? unknown[] : Record<string, unknown> };

function hasReference(fields: ArgumentFields): boolean {
  const all = [...fields.args, ...fields.constructor_args, ...Object.values(fields.kwargs), ...Object.values(fields.constructor_kwargs)];
  return all.some(isBlobRef);
}

/**
 * The arguments with every blob reference replaced by its bytes. A blob that cannot be read
 * (404, expired URL, truncated, a size that disagrees) throws an ArgumentBlobError naming the
 * argument; the other fetches are stopped.
 */
export async function resolveArgumentBlobs(request: ArgumentFields, transfers: BlobTransfers, signal: AbortSignal): Promise<ResolvedArguments> {
  if (!hasReference(request)) return request;
  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  const fetches: Promise<void>[] = [];
  // The first failure is the one reported: the fetches it stops fail after it, as aborted.
  let failure: ArgumentBlobError | undefined;
  const resolve = (item: unknown, path: string, put: (bytes: Buffer) => void): void => {
    if (!isBlobRef(item)) return;
    const { url, bytes } = item.ferry_blob as { url: string; bytes: number };
    fetches.push(
      transfers.get(url, bytes, both).then(put, (error: Error) => {
        failure ??= new ArgumentBlobError(`${path}: ${error.message}`);
        stop.abort();
      }),
    );
  };
  const list = (items: unknown[], field: string) => {
    const out = [...items];
    out.forEach((item, i) => resolve(item, `${field}[${i}]`, (b) => (out[i] = b)));
    return out;
  };
  const map = (values: Record<string, unknown>, field: string) => {
    const out = { ...values };
    for (const [key, item] of Object.entries(values)) resolve(item, `${field}.${key}`, (b) => (out[key] = b));
    return out;
  };
  const resolved = {
    args: list(request.args, "args"),
    kwargs: map(request.kwargs, "kwargs"),
    constructor_args: list(request.constructor_args, "constructor_args"),
    constructor_kwargs: map(request.constructor_kwargs, "constructor_kwargs"),
  };
  await Promise.all(fetches);
  if (failure) throw failure;
  return resolved;
}

export function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Hands out the request's output places in order; values at or under the threshold stay inline. */
export class OutputPlaces {
  private next = 0;

  constructor(
    private readonly outputs: BlobOutputs | undefined,
    private readonly transfers: BlobTransfers,
  ) {}

  /** Whether a value of this size goes to a blob (over the threshold, and a place is left). */
  wants(size: number): boolean {
    return this.outputs !== undefined && size > this.outputs.threshold_bytes && this.next < this.outputs.put_urls.length;
  }

  /**
   * The value as it goes on the wire: base64 text, or a reference to the blob it was written to.
   * A file the child wrote is moved into its place, or read back when the value stays inline.
   */
  async place(value: Uint8Array | ValueFile, signal?: AbortSignal): Promise<string | BlobOutputRef> {
    if (!this.wants(value.byteLength)) return bytesToBase64(value instanceof ValueFile ? await this.transfers.take(value) : value);
    const slot = this.next++;
    const url = this.outputs!.put_urls[slot]!;
    if (value instanceof ValueFile) await this.transfers.adopt(url, value, signal);
    else await this.transfers.put(url, value, signal);
    return blobOutputRef(slot, value.byteLength);
  }
}
