/**
 * The local server's blob store: call values kept as files under `<stateDir>/blobs/`, reached
 * by workers through URLs that carry a capability token. A token is an HMAC of the blob's key
 * and the one thing it allows (read, or write) under a secret made when the server starts: it
 * grants exactly that blob, that direction, for that server's lifetime, and cannot be guessed
 * from the key. Files are deleted when the caller has read its result, and otherwise once
 * older than the retention (the longest a job's result is kept).
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { createWriteStream, mkdirSync, readdirSync, rmSync, statSync, renameSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sendBlobFile } from "./blob-send.ts";
import { HttpError } from "./http-util.ts";
import { BLOB_KEY_PATTERN } from "../../protocol/blob-ref.ts";
import { readBlobFile, writeBlobFile } from "../../protocol/blob-file.ts";
import { RUN_RETENTION_MS } from "../../protocol/runpod-jobs.ts";

export type BlobAccess = "read" | "write";

/**
 * Bytes of an upload held while the file write before them is under way; they then go to the
 * file in one write (writev). Large, so that a 64 KB socket read is not a trip through libuv's
 * thread pool of its own.
 */
const WRITE_BATCH_BYTES = 1024 * 1024;

export interface BlobFilesOptions {
  dir: string;
  /** Files older than this are deleted (default 30 minutes, the retention of `/run` results). */
  retentionMs?: number | undefined;
  /** Largest blob accepted (default 8 GiB). */
  maxBytes?: number | undefined;
  /** The server's base URL, known once it listens; blob URLs start with it. */
  baseUrl: () => string;
}

export class BlobFiles {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly secret = randomBytes(32);
  private readonly retentionMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly baseUrl: () => string;

  constructor(options: BlobFilesOptions) {
    this.dir = options.dir;
    this.baseUrl = options.baseUrl;
    this.retentionMs = options.retentionMs ?? RUN_RETENTION_MS;
    this.maxBytes = options.maxBytes ?? 8 * 1024 ** 3;
    mkdirSync(this.dir, { recursive: true });
    this.sweep();
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, this.retentionMs));
    this.sweeper.unref();
  }

  newKey(): string {
    return `${Date.now()}-${randomUUID()}`;
  }

  /** `count` fresh keys, each with the URL a worker PUTs a value to: places for a call's outputs. */
  outputPlaces(count: number): { key: string; putUrl: string }[] {
    return Array.from({ length: count }, () => {
      const key = this.newKey();
      return { key, putUrl: this.url(key, "write") };
    });
  }

  token(key: string, access: BlobAccess): string {
    return createHmac("sha256", this.secret).update(`${access}:${key}`).digest("base64url");
  }

  /** Where the blobs' URLs start: the server's base URL, then `/blobs/`. */
  urlPrefix(): string {
    return `${this.baseUrl()}/blobs/`;
  }

  /** The URL a worker GETs (`read`) or PUTs (`write`) the blob at, with the token for that access. */
  url(key: string, access: BlobAccess): string {
    return `${this.urlPrefix()}${key}?token=${this.token(key, access)}`;
  }

  /** Throws 404 for a key that cannot be one of ours, 403 for a token that does not grant `access`. */
  check(key: string, token: string | null, access: BlobAccess): void {
    if (!BLOB_KEY_PATTERN.test(key)) throw new HttpError(404, "no such blob");
    const expected = Buffer.from(this.token(key, access));
    const given = Buffer.from(token ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new HttpError(403, `the token does not grant ${access} access to this blob`);
  }

  private path(key: string): string {
    if (!BLOB_KEY_PATTERN.test(key)) throw new HttpError(404, "no such blob");
    return join(this.dir, key);
  }

  /** Streams a request body into the blob's file (written beside it, then renamed: a reader never sees half a blob). */
  async write(key: string, req: IncomingMessage): Promise<number> {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > this.maxBytes) {
      req.resume();
      throw new HttpError(413, `blob of ${declared} bytes is over this server's ${this.maxBytes}-byte limit`);
    }
    const target = this.path(key);
    const partial = `${target}.${randomUUID()}.part`;
    let size = 0;
    const limit = this.maxBytes;
    const counter = new Transform({
      highWaterMark: WRITE_BATCH_BYTES,
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > limit) done(new HttpError(413, `blob is over this server's ${limit}-byte limit`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(req, counter, createWriteStream(partial, { highWaterMark: WRITE_BATCH_BYTES }));
      renameSync(partial, target);
    } catch (error) {
      rmSync(partial, { force: true });
      throw error instanceof HttpError ? error : new HttpError(400, `the blob upload broke off: ${(error as Error).message}`);
    }
    return size;
  }

  /**
   * Writes `parts`, in order, as the blob's file with one writev (beside it, then renamed, as
   * `write` does); for a caller in the server's own process, which needs no HTTP to get here.
   */
  async writeParts(key: string, parts: readonly Uint8Array[]): Promise<number> {
    const size = parts.reduce((sum, part) => sum + part.byteLength, 0);
    if (size > this.maxBytes) throw new HttpError(413, `blob of ${size} bytes is over this server's ${this.maxBytes}-byte limit`);
    return writeBlobFile(this.path(key), parts);
  }

  /**
   * The blob's bytes in one buffer of `bytes`, the size its reference promised; for a caller in
   * the server's own process. A missing blob or one of another size is a BlobReadError.
   */
  async read(key: string, bytes: number): Promise<Buffer> {
    return readBlobFile(this.path(key), key, bytes);
  }

  /** Sends the blob's file as the answer body. */
  async send(key: string, res: ServerResponse): Promise<void> {
    const target = this.path(key);
    let size: number;
    try {
      size = statSync(target).size;
    } catch {
      throw new HttpError(404, "no such blob (it was never written, or was deleted)");
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
    await sendBlobFile(target, size, res);
  }

  delete(keys: string[]): void {
    for (const key of keys) if (BLOB_KEY_PATTERN.test(key)) rmSync(join(this.dir, key), { force: true });
  }

  /** Deletes blobs (and broken-off uploads) past the retention. */
  sweep(): void {
    const cutoff = Date.now() - this.retentionMs;
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const file = join(this.dir, name);
      try {
        if (statSync(file).mtimeMs < cutoff) rmSync(file, { force: true });
      } catch {
        // deleted meanwhile
      }
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
