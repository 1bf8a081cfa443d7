/**
 * Call values in the blob files of a local server running in this very process: the same store
 * as `LocalBlobStore`, reached through the file system instead of loopback HTTP to our own event
 * loop. An input is written to its file from the value's own parts, a result read from its file
 * into one buffer. The worker, another process, still gets URLs with capability tokens.
 */
import type { BlobFiles } from "../local-server/blob-files.ts";
import type { EncodedValue } from "../codec-parts.ts";
import { BlobStoreError } from "../errors.ts";
import type { BlobStore, OutputPlace, StoredInput } from "./blob-store.ts";

export class InProcessBlobStore implements BlobStore {
  readonly kind = "local";

  constructor(private readonly files: BlobFiles) {}

  async putInput(value: EncodedValue, signal?: AbortSignal): Promise<StoredInput> {
    signal?.throwIfAborted();
    const key = this.files.newKey();
    try {
      await this.files.writeParts(key, value.parts);
    } catch (error) {
      throw new BlobStoreError(`local blob store: storing an input failed: ${(error as Error).message}`);
    }
    if (signal?.aborted) {
      this.files.delete([key]);
      throw signal.reason;
    }
    return { key, url: this.files.url(key, "read") };
  }

  async outputPlaces(count: number): Promise<OutputPlace[]> {
    return this.files.outputPlaces(count);
  }

  async read(key: string, bytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    try {
      return await this.files.read(key, bytes);
    } catch (error) {
      throw new BlobStoreError(`local blob store: reading an output failed: ${(error as Error).message}`);
    }
  }

  async delete(keys: string[]): Promise<void> {
    this.files.delete(keys);
  }
}
