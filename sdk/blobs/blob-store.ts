/**
 * Where a call's large values live while it runs. The SDK writes inputs and reads outputs; the
 * worker only ever gets URLs (a GET per input, a PUT per output place), so it needs no storage
 * credentials. Two stores: the local server's (`local-blob-store.ts`) and an S3-compatible
 * bucket (`s3-blob-store.ts`: AWS S3, Cloudflare R2, RunPod's network-volume S3 API).
 */

/** A stored input: the URL the worker GETs, and the key to delete it by. */
export interface StoredInput {
  key: string;
  url: string;
}

/** A place the worker may PUT one output into, and the key the SDK reads it back by. */
export interface OutputPlace {
  key: string;
  putUrl: string;
}

import type { EncodedValue } from "../codec-parts.ts";

export interface BlobStore {
  /** "local" or "s3", for messages. */
  readonly kind: string;
  /** Stores an encoded value, sent part after part. */
  putInput(value: EncodedValue, signal?: AbortSignal): Promise<StoredInput>;
  /** The bytes the worker wrote to a place (its size as the worker's reference says); the caller may keep and change them. */
  outputPlaces(count: number, signal?: AbortSignal): Promise<OutputPlace[]>;
  /** The bytes the worker wrote to a place (its size as the worker's reference says). */
  read(key: string, bytes: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Deletes what the call wrote or had written; keys never written are ignored. */
  delete(keys: string[]): Promise<void>;
}
