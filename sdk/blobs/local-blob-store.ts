/** Call values in the local server's blob store (its routes: sdk/local-server/blob-api.ts). */
import { z } from "zod";
import { getBlob, uploadBlob } from "../../protocol/blob-http.ts";
import type { EncodedValue } from "../codec-parts.ts";
import { BlobStoreError } from "../errors.ts";
import type { BlobStore, OutputPlace, StoredInput } from "./blob-store.ts";

const StoredSchema = z.object({ key: z.string(), url: z.string() });
const PLACE_BATCH = 256;
const PlacesSchema = z.object({ places: z.array(z.object({ key: z.string(), put_url: z.string() })) });

export class LocalBlobStore implements BlobStore {
  readonly kind = "local";
  private readonly root: string;
  private readonly headers: Record<string, string>;
  private readonly pool: OutputPlace[] = [];

  /** `endpointBaseUrl` is the server's `<url>/v2`. */
  constructor(endpointBaseUrl: string, endpointId: string, apiKey: string | undefined) {
    this.root = `${endpointBaseUrl.replace(/\/+$/, "")}/${encodeURIComponent(endpointId)}/blobs`;
    this.headers = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  }

  /**
   * A POST to the store; its answer is JSON. A failure before any answer (a kept-alive
   * connection the server closed as it was reused) is tried again: a repeated upload only
   * leaves an unused blob to the retention sweep.
   */
  private async post<T extends z.ZodTypeAny>(path: string, body: string | readonly Uint8Array[], schema: T, what: string, signal?: AbortSignal): Promise<z.output<T>> {
    const json = typeof body === "string";
    let answer: { status: number; text: string };
    try {
      answer = await uploadBlob(`${this.root}${path}`, "POST", json ? Buffer.from(body) : body, { ...this.headers, "content-type": json ? "application/json" : "application/octet-stream" }, signal);
    } catch (error) {
      throw new BlobStoreError(`local blob store: ${what} failed: ${(error as Error).message}`);
    }
    if (answer.status < 200 || answer.status > 299) throw new BlobStoreError(`local blob store: ${what} answered HTTP ${answer.status}: ${answer.text.slice(0, 200)}`);
    let answerBody: unknown;
    try {
      answerBody = JSON.parse(answer.text);
    } catch {
      throw new BlobStoreError(`local blob store: ${what} answered text that is not JSON`);
    }
    const parsed = schema.safeParse(answerBody);
    if (!parsed.success) throw new BlobStoreError(`local blob store: ${what} answered an unexpected shape`);
    return parsed.data;
  }

  putInput(value: EncodedValue, signal?: AbortSignal): Promise<StoredInput> {
    return this.post("", value.parts, StoredSchema, "storing an input", signal);
  }

  /**
   * Places are made in batches and handed out from a pool: a place costs the server nothing
   * until a worker writes to it, and a call then pays no round trip for its places.
   */
  async outputPlaces(count: number, signal?: AbortSignal): Promise<OutputPlace[]> {
    if (this.pool.length < count) {
      const answer = await this.post("/places", JSON.stringify({ count: Math.max(count, PLACE_BATCH) }), PlacesSchema, "making output places", signal);
      this.pool.push(...answer.places.map((p) => ({ key: p.key, putUrl: p.put_url })));
    }
    return this.pool.splice(0, count);
  }

  async read(key: string, bytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      return await getBlob(`${this.root}/${encodeURIComponent(key)}`, bytes, signal, this.headers);
    } catch (error) {
      throw new BlobStoreError(`local blob store: reading an output failed: ${(error as Error).message}`);
    }
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length) await this.post("/delete", JSON.stringify({ keys }), z.unknown(), "deleting a call's blobs");
  }
}
