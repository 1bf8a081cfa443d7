/**
 * The blob store a caller names: a resource's `blobStore` option, else `configure({ blobStore })`,
 * else environment variables. Without one, calls to the local server use the server's own
 * store, and calls to RunPod send values inline (and a request over RunPod's cap fails early
 * with PayloadTooLargeError).
 */
import { z } from "zod";
import { DEFAULT_BLOB_THRESHOLD_BYTES } from "../../protocol/blob-ref.ts";

/**
 * An S3-compatible bucket for values too large to travel inline on RunPod (AWS S3, Cloudflare R2,
 * RunPod's network-volume S3 API). The SDK uploads inputs and presigns a GET and a PUT URL per
 * value, so workers need no storage credentials.
 *
 * @example
 * ```ts
 * configure({ blobStore: { bucket: "my-ferry-values", region: "us-east-1" } });
 * ```
 */
export interface BlobStoreOptions {
  /** The bucket Ferry writes call values into (it must exist). */
  bucket: string;
  /** S3 API endpoint; AWS's regional endpoint when absent (R2: `https://<account>.r2.cloudflarestorage.com`). */
  endpoint?: string | undefined;
  /** Default `us-east-1` (R2: `auto`). */
  region?: string | undefined;
  /** Credentials; default the AWS SDK's chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles). */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Key prefix of every object Ferry writes (default `ferry-blobs/`). */
  prefix?: string | undefined;
  /** Path-style URLs (`endpoint/bucket/key`): needed by most S3-compatible servers; default true when `endpoint` is set. */
  forcePathStyle?: boolean | undefined;
  /** How long presigned URLs stay valid (default 1 hour): the longest a call may wait in the queue and run. */
  urlTtlSeconds?: number | undefined;
}

export const BlobStoreOptionsSchema = z
  .object({
    bucket: z.string().min(1),
    endpoint: z.string().url().optional(),
    region: z.string().min(1).optional(),
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    prefix: z.string().optional(),
    forcePathStyle: z.boolean().optional(),
    urlTtlSeconds: z.number().int().min(1).max(7 * 86_400).optional(),
  })
  .strict();

/** A store's setting: S3-compatible bucket options, or `false` for none (every value inline). */
export const BlobStoreSettingSchema = z.union([z.literal(false), BlobStoreOptionsSchema]);
export type BlobStoreSetting = BlobStoreOptions | false;

/**
 * The store a call uses: the resource's own setting, else the one given to configure(), else
 * FERRY_BLOB_S3_* variables; undefined when none names one.
 */
export function chosenBlobStore(
  resource: BlobStoreSetting | undefined,
  configured: BlobStoreSetting | undefined,
  env: NodeJS.ProcessEnv,
): BlobStoreSetting | undefined {
  return resource ?? configured ?? blobStoreFromEnv(env);
}

/** One key per distinct store, whatever the order its options were written in: calls naming the same bucket share one client. */
export function blobStoreKey(options: BlobStoreOptions): string {
  return JSON.stringify(Object.entries(options).filter(([, value]) => value !== undefined).sort(([a], [b]) => a.localeCompare(b)));
}

/** The store named by FERRY_BLOB_S3_BUCKET (with _ENDPOINT, _REGION, _PREFIX), when set. */
export function blobStoreFromEnv(env: NodeJS.ProcessEnv): BlobStoreOptions | undefined {
  const bucket = env.FERRY_BLOB_S3_BUCKET;
  if (!bucket) return undefined;
  return {
    bucket,
    endpoint: env.FERRY_BLOB_S3_ENDPOINT || undefined,
    region: env.FERRY_BLOB_S3_REGION || undefined,
    prefix: env.FERRY_BLOB_S3_PREFIX || undefined,
  };
}

/** Encoded values over this many bytes travel as blobs: `configure({ blobThresholdBytes })`, FERRY_BLOB_THRESHOLD_BYTES, else 1 MB. */
export function blobThreshold(option: number | undefined, env: NodeJS.ProcessEnv): number {
  if (option !== undefined) return option;
  const fromEnv = Number(env.FERRY_BLOB_THRESHOLD_BYTES);
  return env.FERRY_BLOB_THRESHOLD_BYTES && Number.isInteger(fromEnv) && fromEnv >= 0 ? fromEnv : DEFAULT_BLOB_THRESHOLD_BYTES;
}
