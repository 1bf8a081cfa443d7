/** Call values in the local server's blob store (its routes: sdk/local-server/blob-api.ts). */
import { z } from "zod";
import { getBlob } from "../../protocol/blob-http.ts";
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

  private async post<T extends z.ZodTypeAny>(path: string, body: string | Uint8Array, schema: T, what: string, signal?: AbortSignal, json = true): Promise<z.output<T>> {
    let response: Response | undefined;
    // A failure before any answer (a kept-alive connection the server closed as it was reused)
    // is tried again: a repeated upload only leaves an unused blob to the retention sweep.
    for (let attempt = 1; !response; attempt++) {
      try {
        response = await fetch(`${this.root}${path}`, {
          method: "POST",
          // fetch's types want an ArrayBuffer-backed view; a Buffer's may be shared, which fetch reads the same.
          body: body as string | Uint8Array<ArrayBuffer>,
          headers: { ...this.headers, "content-type": json ? "application/json" : "application/octet-stream" },
          signal: signal ?? null,
        });
      } catch (error) {
        if (signal?.aborted || attempt >= 3) throw new BlobStoreError(`local blob store: ${what} failed: ${(error as Error).message}`);
      }
    }
    const text = await response.text();
    if (!response.ok) throw new BlobStoreError(`local blob store: ${what} answered HTTP ${response.status}: ${text.slice(0, 200)}`);
    const parsed = schema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new BlobStoreError(`local blob store: ${what} answered an unexpected shape`);
    return parsed.data;
  }

  putInput(bytes: Uint8Array, signal?: AbortSignal): Promise<StoredInput> {
    return this.post("", bytes, StoredSchema, "storing an input", signal, false);
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
