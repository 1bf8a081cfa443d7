/**
 * How the worker reads argument blobs and writes output blobs: over HTTP (a presigned S3 URL, a
 * local server's blob route), or, for a worker the local server started itself, in that
 * server's blob folder directly.
 *
 * The local server tells its workers where the folder is and which URLs name files in it
 * (LOCAL_BLOB_DIR_ENV, LOCAL_BLOB_URL_ENV). A blob at one of those URLs is then a file the
 * worker reads or writes itself: the bytes never cross a socket into or out of the server,
 * which on the local default is the caller's own process, busy with its own share of the call
 * (measured on 2 cores, a 64 MB result: 430 to 550 ms a call over HTTP, 280 to 370 ms this way;
 * a 64 MB argument: 290 to 640 ms, 90 to 230 ms). The URL's token still guards the HTTP route
 * from other processes and from browsers; a worker already runs the caller's code as the
 * caller's user. A worker that cannot see the folder (one in a container) uses HTTP.
 */
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { readBlobFile, writeBlobFile } from "../../protocol/blob-file.ts";
import { getBlob, putBlob, type BlobBody } from "../../protocol/blob-http.ts";
import { BLOB_KEY_PATTERN, LOCAL_BLOB_DIR_ENV, LOCAL_BLOB_URL_ENV, type BlobOutputs, type LocalBlobFolder } from "../../protocol/blob-ref.ts";
import type { ValueFile } from "../engine/value-file.ts";

export class BlobTransfers {
  constructor(private readonly folder?: LocalBlobFolder) {}

  /** The folder the environment names, if this process can see it; HTTP only otherwise. */
  static fromEnv(env: NodeJS.ProcessEnv): BlobTransfers {
    const dir = env[LOCAL_BLOB_DIR_ENV];
    const urlPrefix = env[LOCAL_BLOB_URL_ENV];
    return new BlobTransfers(dir && urlPrefix && existsSync(dir) ? { dir, urlPrefix } : undefined);
  }

  /** The blob's key, when `url` names a file in the local server's folder. */
  private localKey(url: string): string | undefined {
    if (!this.folder || !url.startsWith(this.folder.urlPrefix)) return undefined;
    const key = url.slice(this.folder.urlPrefix.length).split(/[?#]/)[0]!;
    return BLOB_KEY_PATTERN.test(key) ? key : undefined;
  }

  /** The blob at `url`, which must be exactly `bytes` long. */
  async get(url: string, bytes: number, signal?: AbortSignal): Promise<Buffer> {
    const key = this.localKey(url);
    if (key === undefined) return getBlob(url, bytes, signal);
    signal?.throwIfAborted();
    return readBlobFile(join(this.folder!.dir, key), key, bytes);
  }

  /** Writes `body` to the place at `url`. */
  async put(url: string, body: BlobBody, signal?: AbortSignal): Promise<void> {
    const key = this.localKey(url);
    if (key === undefined) return putBlob(url, body, signal);
    signal?.throwIfAborted();
    try {
      await writeBlobFile(join(this.folder!.dir, key), body instanceof Uint8Array ? [body] : body);
    } catch (error) {
      throw new Error(`writing blob ${key} in the local server's folder failed: ${(error as Error).message}`);
    }
  }

  /**
   * Where the child may write a large result or streamed value as a file of its own: the folder,
   * when the call's places are in it (a file there then only has to be renamed into its place).
   */
  valueFiles(outputs: BlobOutputs | undefined): { dir: string; threshold_bytes: number } | undefined {
    if (!this.folder || !outputs?.put_urls.some((url) => this.localKey(url) !== undefined)) return undefined;
    return { dir: this.folder.dir, threshold_bytes: outputs.threshold_bytes };
  }

  /** Puts a file the child wrote at the place at `url`: renamed into it in the folder, or sent over HTTP. The file is gone afterwards either way. */
  async adopt(url: string, file: ValueFile, signal?: AbortSignal): Promise<void> {
    const key = this.localKey(url);
    if (key === undefined) return this.put(url, await this.take(file), signal);
    try {
      await rename(this.valueFilePath(file), join(this.folder!.dir, key));
    } catch (error) {
      await this.discard(file);
      throw new Error(`moving the value file ${file.name} to blob ${key} failed: ${(error as Error).message}`);
    }
  }

  /** A file the child wrote, read into memory and deleted. */
  async take(file: ValueFile): Promise<Buffer> {
    try {
      return await readBlobFile(this.valueFilePath(file), file.name, file.byteLength);
    } finally {
      await this.discard(file);
    }
  }

  /** Deletes a file the child wrote that no place takes. */
  async discard(file: ValueFile): Promise<void> {
    if (this.folder) await rm(this.valueFilePath(file), { force: true });
  }

  private valueFilePath(file: ValueFile): string {
    if (!this.folder) throw new Error(`the child sent value file ${file.name}, but this worker has no blob folder`);
    return join(this.folder.dir, file.name);
  }
}
