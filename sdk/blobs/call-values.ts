/**
 * One call's values on the wire: arguments encoded (MessagePack), then sent inline as base64
 * or, over the threshold, stored as blobs and sent as references; output places handed to the
 * worker for a result or yielded value over the threshold; references in the answer read back;
 * and everything the call stored deleted once its result is read.
 *
 * Without a store (RunPod with none configured) every value goes inline, and a request that
 * would be over RunPod's cap fails with PayloadTooLargeError before anything is encoded.
 */
import { BlobOutputRefSchema, type BlobInputRef, type BlobOutputs } from "../../protocol/blob-ref.ts";
import { RUN_BODY_LIMIT_BYTES } from "../../protocol/runpod-jobs.ts";
import { decode, encodeParts } from "../codec.ts";
import { joinParts } from "../codec-parts.ts";
import { PayloadTooLargeError, SerializationError } from "../errors.ts";
import type { BlobStore, OutputPlace } from "./blob-store.ts";
import { estimateEncodedBytes } from "./size-estimate.ts";

/** Output places a streaming call gets: one per yielded value over the threshold. */
export const STREAM_OUTPUT_PLACES = 64;

export type EncodedArg = string | BlobInputRef;

export interface CallValuesOptions {
  store: BlobStore | undefined;
  thresholdBytes: number;
  /** Whether requests over RunPod's caps are refused early (RunPod with no store). */
  enforceCaps: boolean;
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export class CallValues {
  private readonly stored: string[] = [];
  private places: OutputPlace[] = [];
  private readonly read = new Set<string>();

  constructor(
    private readonly options: CallValuesOptions,
    private readonly streaming: boolean,
  ) {}

  /**
   * The cap of `/run`: streaming calls and watched plain calls (live logs or progress) go there;
   * only an unwatched plain call uses `/runsync` (20 MB), and which one is decided after this.
   */
  private get cap(): { bytes: number; route: string } {
    return { bytes: RUN_BODY_LIMIT_BYTES, route: "/run" };
  }

  /** Positional and keyword arguments as they go on the wire. */
  async encodeArgs(positional: readonly unknown[], keywords: Record<string, unknown>, signal?: AbortSignal): Promise<{ args: EncodedArg[]; kwargs: Record<string, EncodedArg> }> {
    if (this.options.enforceCaps && !this.options.store) {
      const estimate = Math.ceil((estimateEncodedBytes([positional, keywords]) * 4) / 3);
      if (estimate > this.cap.bytes) throw new PayloadTooLargeError(estimate, this.cap.bytes, this.cap.route);
    }
    const one = async (value: unknown, path: string): Promise<EncodedArg> => {
      const encoded = encodeParts(value, path);
      const { store, thresholdBytes } = this.options;
      if (!store || encoded.byteLength <= thresholdBytes) return toBase64(joinParts(encoded));
      const { key, url } = await store.putInput(encoded, signal);
      this.stored.push(key);
      return { ferry_blob: { url, bytes: encoded.byteLength } };
    };
    const [args, kwargEntries] = await Promise.all([
      Promise.all(positional.map((value, i) => one(value, `args[${i}]`))),
      Promise.all(Object.entries(keywords).map(async ([key, value]) => [key, await one(value, `kwargs.${key}`)] as const)),
    ]);
    return { args, kwargs: Object.fromEntries(kwargEntries) };
  }

  /** The request's `blob_outputs`: places for the result (one) or for yielded values (several). */
  async outputs(signal?: AbortSignal): Promise<BlobOutputs | undefined> {
    const store = this.options.store;
    if (!store) return undefined;
    this.places = await store.outputPlaces(this.streaming ? STREAM_OUTPUT_PLACES : 1, signal);
    return { threshold_bytes: this.options.thresholdBytes, put_urls: this.places.map((p) => p.putUrl) };
  }

  /** The whole request, checked against the cap once built (code and options count too). */
  checkRequestSize(input: unknown): void {
    if (!this.options.enforceCaps || this.options.store) return;
    const bytes = Buffer.byteLength(JSON.stringify({ input }));
    if (bytes > this.cap.bytes) throw new PayloadTooLargeError(bytes, this.cap.bytes, this.cap.route);
  }

  /** A value from the answer: base64 MessagePack, or a reference to a place the worker wrote. */
  async decode(encoded: unknown, path: string, signal?: AbortSignal): Promise<unknown> {
    if (encoded === null || encoded === undefined) return null;
    if (typeof encoded === "string") return decode(Buffer.from(encoded, "base64"), path);
    const ref = BlobOutputRefSchema.safeParse(encoded);
    if (!ref.success) throw new SerializationError(path, "the worker answered a value that is neither base64 text nor a blob reference");
    const place = this.places[ref.data.ferry_blob.slot];
    if (!place || !this.options.store) throw new SerializationError(path, `the worker answered blob place ${ref.data.ferry_blob.slot}, which this call did not give it`);
    this.read.add(place.key);
    const bytes = await this.options.store.read(place.key, ref.data.ferry_blob.bytes, signal);
    return decode(bytes, path, true);
  }

  /** Deletes what the call stored and what the worker wrote for it; not waited for, and a failure only leaves objects to the retention sweep. */
  release(): void {
    const keys = [...this.stored, ...this.read];
    if (keys.length && this.options.store) this.options.store.delete(keys).catch(() => undefined);
    this.stored.length = 0;
    this.read.clear();
  }
}
