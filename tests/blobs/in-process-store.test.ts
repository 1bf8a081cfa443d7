/**
 * A caller in the local server's own process reaches the server's blob files directly: no blob
 * request from the caller reaches the server (its caller routes are counted), and none from the
 * worker the server started, which reads and writes them in the server's folder. The URLs it is
 * given still work over HTTP with their capability tokens. The direct store and the HTTP store
 * fail alike on a blob deleted behind their back or of the wrong size.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { getBlob, putBlob } from "../../protocol/blob-http.ts";
import { InProcessBlobStore } from "../../sdk/blobs/in-process-blob-store.ts";
import { LocalBlobStore } from "../../sdk/blobs/local-blob-store.ts";
import { BlobStoreError, LiveServerless, remote, type NdArray } from "../../sdk/index.ts";
import { BlobApi } from "../../sdk/local-server/blob-api.ts";
import { inProcessServer } from "../../sdk/local-server/in-process-servers.ts";
import { startLocalServer } from "../../sdk/local-server/server.ts";
import { useLocalSdk } from "../helpers/local-sdk.ts";

const local = useLocalSdk("ferry-in-process-blobs-");
const MiB = 1024 * 1024;

afterEach(() => {
  vi.restoreAllMocks();
});

function directStore(): InProcessBlobStore {
  const here = inProcessServer(local.server().endpointBaseUrl);
  if (!here) throw new Error("the server is not registered as running in this process");
  return new InProcessBlobStore(here.blobs);
}

/** The two stores a caller may get for the same server: through its files, and over HTTP. */
function bothStores(): [string, InProcessBlobStore | LocalBlobStore][] {
  return [
    ["in process", directStore()],
    ["over HTTP", new LocalBlobStore(local.server().endpointBaseUrl, "any-endpoint", undefined)],
  ];
}

function blobDir(): string {
  return join(local.server().stateDir, "blobs");
}

describe("the registry of servers in this process", () => {
  it("holds a server while it listens and forgets it once closed; a server with a key refuses other keys", async () => {
    expect(inProcessServer(`${local.server().endpointBaseUrl}/`)?.accepts(undefined)).toBe(true);
    const keyed = await startLocalServer({ stateDir: join(local.server().stateDir, "keyed"), persistEndpoints: false, apiKey: "key-1" });
    const entry = inProcessServer(keyed.endpointBaseUrl);
    expect(entry?.accepts("key-1")).toBe(true);
    expect(entry?.accepts("key-2")).toBe(false);
    expect(entry?.accepts(undefined)).toBe(false);
    await keyed.close();
    expect(inProcessServer(keyed.endpointBaseUrl)).toBeUndefined();
  });
});

describe("the in-process store", () => {
  it("refuses an input over the server's blob limit with a BlobStoreError and leaves no file", async () => {
    const dir = join(local.server().stateDir, "small");
    const small = await startLocalServer({ stateDir: dir, persistEndpoints: false, blobs: { maxBytes: 10 } });
    try {
      const store = new InProcessBlobStore(inProcessServer(small.endpointBaseUrl)!.blobs);
      const error = await store.putInput({ parts: [Buffer.alloc(6), Buffer.alloc(5)], byteLength: 11 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlobStoreError);
      expect((error as Error).message).toMatch(/^local blob store: storing an input failed: blob of 11 bytes is over this server's 10-byte limit/);
      expect(readdirSync(join(dir, "blobs"))).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it("writes an input's parts as one blob the worker can GET with its token, and reads what a worker PUT", async () => {
    const store = directStore();
    const parts = [Buffer.from("head:"), Buffer.alloc(3 * MiB, 7), Buffer.from(":tail")];
    const total = parts.reduce((sum, p) => sum + p.length, 0);
    const stored = await store.putInput({ parts, byteLength: total });
    expect(stored.url).toMatch(/\/blobs\/[^?]+\?token=/);
    expect(Buffer.compare(await getBlob(stored.url, total), Buffer.concat(parts))).toBe(0);
    expect(readdirSync(blobDir()).filter((name) => name.endsWith(".part"))).toEqual([]);

    const [place] = await store.outputPlaces(1);
    const result = Buffer.alloc(2 * MiB + 3, 9);
    await putBlob(place!.putUrl, result);
    expect(Buffer.compare(Buffer.from(await store.read(place!.key, result.length)), result)).toBe(0);

    await store.delete([stored.key, place!.key]);
    expect(existsSync(join(blobDir(), stored.key))).toBe(false);
    expect(existsSync(join(blobDir(), place!.key))).toBe(false);
  });

  it.each([0, 1])("a blob deleted behind the store's back is the same clear BlobStoreError in process and over HTTP (%#)", async (which) => {
    const [, store] = bothStores()[which]!;
    const stored = await directStore().putInput({ parts: [Buffer.alloc(1000, 1)], byteLength: 1000 });
    rmSync(join(blobDir(), stored.key));
    const error = await store.read(stored.key, 1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlobStoreError);
    expect((error as Error).message).toMatch(/^local blob store: reading an output failed: .*(does not exist|was already deleted)/);
  });

  it.each([0, 1])("a blob whose size disagrees with its reference is a BlobStoreError in process and over HTTP (%#)", async (which) => {
    const [, store] = bothStores()[which]!;
    const stored = await directStore().putInput({ parts: [Buffer.alloc(1000, 1)], byteLength: 1000 });
    const error = await store.read(stored.key, 1001).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlobStoreError);
    expect((error as Error).message).toMatch(/^local blob store: reading an output failed: .*is 1000 bytes but its reference says 1001/);
  });
});

describe("remote() with the server in this process", () => {
  it("a 64 MB Float32Array round trip is byte-identical, and neither the caller nor the worker sends the server a blob request", async () => {
    const py = remote(new LiveServerless({ name: "in-process-blobs", workersMax: 1 }));
    const echo = py.function<[x: Float32Array], NdArray<Float32Array>>("def echo(x):\n    return x", "echo");
    expect(await echo(new Float32Array(4))).toHaveLength(4);

    const before = new Set(readdirSync(blobDir()));
    const callerRoutes = vi.spyOn(BlobApi.prototype, "handleCaller");
    const workerRoutes = vi.spyOn(BlobApi.prototype, "handleWorker");
    const count = (64 * MiB) / 4;
    const x = new Float32Array(count);
    for (let i = 0; i < count; i++) x[i] = (i % 65_521) * 0.5 - 7;
    const y = await echo(x);
    expect(y).toBeInstanceOf(Float32Array);
    expect(y.length).toBe(count);
    expect(Buffer.compare(Buffer.from(y.buffer, y.byteOffset, y.byteLength), Buffer.from(x.buffer))).toBe(0);
    expect(callerRoutes).not.toHaveBeenCalled();
    // The worker, a process the server started, read the argument and wrote the result in the server's folder.
    expect(workerRoutes).not.toHaveBeenCalled();
    // The call's blobs are deleted once its result is read (not waited for by the call).
    const left = () => readdirSync(blobDir()).filter((name) => !before.has(name));
    for (let i = 0; i < 100 && left().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(left()).toEqual([]);
  }, 180_000);
});
