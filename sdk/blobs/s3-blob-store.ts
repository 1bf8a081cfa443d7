/**
 * Call values in an S3-compatible bucket (AWS S3, Cloudflare R2, RunPod's network-volume S3
 * API, any server speaking the protocol). The SDK writes inputs with its own credentials and
 * hands the worker presigned URLs: a GET per input, a PUT per output place. Objects are
 * deleted once the result is read; ones a crashed caller left behind are deleted by the next
 * process's sweep once older than twice the URL lifetime (a bucket lifecycle rule on the
 * prefix does the same without a caller).
 */
import { randomUUID } from "node:crypto";
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { getBlob } from "../../protocol/blob-http.ts";
import { joinParts, type EncodedValue } from "../codec-parts.ts";
import { BlobStoreError } from "../errors.ts";
import type { BlobStore, OutputPlace, StoredInput } from "./blob-store.ts";
import type { BlobStoreOptions } from "./blob-store-options.ts";

const DEFAULT_URL_TTL_SECONDS = 3600;
const DELETE_BATCH = 1000;

export class S3BlobStore implements BlobStore {
  readonly kind = "s3";
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  private swept = false;

  constructor(options: BlobStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? "ferry-blobs/";
    this.ttlSeconds = options.urlTtlSeconds ?? DEFAULT_URL_TTL_SECONDS;
    const credentials =
      options.accessKeyId && options.secretAccessKey ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } : undefined;
    this.client = new S3Client({
      region: options.region ?? "us-east-1",
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      ...(credentials ? { credentials } : {}),
      // Checksums the SDK would add to presigned PUTs: the worker's plain PUT could not match them.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  private key(kind: "in" | "out"): string {
    return `${this.prefix}${Date.now()}-${randomUUID()}-${kind}`;
  }

  private fail(what: string, error: unknown): BlobStoreError {
    return new BlobStoreError(`S3 blob store (bucket ${this.bucket}): ${what} failed: ${(error as Error).message}`);
  }

  async putInput(value: EncodedValue, signal?: AbortSignal): Promise<StoredInput> {
    this.sweepOnce();
    const bytes = joinParts(value);
    const key = this.key("in");
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentLength: bytes.byteLength }), { abortSignal: signal });
      const url = await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: this.ttlSeconds });
      return { key, url };
    } catch (error) {
      throw this.fail("storing an input", error);
    }
  }

  async outputPlaces(count: number): Promise<OutputPlace[]> {
    this.sweepOnce();
    try {
      return await Promise.all(
        Array.from({ length: count }, async () => {
          const key = this.key("out");
          const putUrl = await getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: this.ttlSeconds });
          return { key, putUrl };
        }),
      );
    } catch (error) {
      throw this.fail("presigning output places", error);
    }
  }

  async read(key: string, bytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    let url: string;
    try {
      url = await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: this.ttlSeconds });
    } catch (error) {
      throw this.fail("presigning a read", error);
    }
    try {
      return await getBlob(url, bytes, signal);
    } catch (error) {
      throw this.fail("reading an output", error);
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      try {
        await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      } catch (error) {
        throw this.fail("deleting a call's objects", error);
      }
    }
  }

  /** Objects under the prefix older than twice the URL lifetime: left by callers that never read their result. */
  private sweepOnce(): void {
    if (this.swept) return;
    this.swept = true;
    const cutoff = Date.now() - 2 * this.ttlSeconds * 1000;
    const sweep = async () => {
      let token: string | undefined;
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }));
        const old = (page.Contents ?? []).filter((o) => o.Key && o.LastModified && o.LastModified.getTime() < cutoff).map((o) => o.Key!);
        if (old.length) await this.delete(old);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    };
    sweep().catch(() => undefined);
  }
}
