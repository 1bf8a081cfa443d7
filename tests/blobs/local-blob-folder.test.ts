/**
 * A worker the local server started reads and writes the blobs at that server's URLs in the
 * server's folder, with no request to the server; any other URL goes over HTTP. A blob missing
 * from the folder or of the wrong size fails the job naming the argument, as over HTTP, and the
 * worker serves the next job.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BlobTransfers } from "../../handler/blobs/blob-transfers.ts";
import { BlobReadError } from "../../protocol/blob-file.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import { LOCAL_BLOB_DIR_ENV, LOCAL_BLOB_URL_ENV } from "../../protocol/blob-ref.ts";
import { decodeBase64, encodeBase64 } from "../../sdk/codec.ts";
import { BlobApi } from "../../sdk/local-server/blob-api.ts";
import { inProcessServer } from "../../sdk/local-server/in-process-servers.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { HEALTHY, newEngine, newHandler, runJob } from "../helpers/engine.ts";

let root: string;
let server: LocalServer;
let other: LocalServer;
let engine: PythonEngine;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ferry-blob-folder-"));
  server = await startLocalServer({ stateDir: join(root, "a"), persistEndpoints: false });
  other = await startLocalServer({ stateDir: join(root, "b"), persistEndpoints: false });
  engine = newEngine();
  await engine.start();
}, 60_000);

afterAll(async () => {
  await engine?.stop();
  await server?.close();
  await other?.close();
  rmSync(root, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

const blobDir = (s: LocalServer) => join(s.stateDir, "blobs");
const files = (s: LocalServer) => inProcessServer(s.endpointBaseUrl)!.blobs;
const serverTransfers = () => new BlobTransfers({ dir: blobDir(server), urlPrefix: `${server.url}/blobs/` });

describe("a worker's blob transfers with the local server's folder", () => {
  it("writes an output place's file and reads an input's file without a request to the server", async () => {
    const routes = vi.spyOn(BlobApi.prototype, "handleWorker");
    const transfers = serverTransfers();
    const [place] = files(server).outputPlaces(1);
    await transfers.put(place!.putUrl, [Buffer.from("head:"), Buffer.alloc(3 * 1024 * 1024, 7), Buffer.from(":tail")]);
    const written = await files(server).read(place!.key, 3 * 1024 * 1024 + 10);
    expect(written.subarray(0, 5).toString()).toBe("head:");
    expect(written.subarray(-5).toString()).toBe(":tail");
    expect(readdirSync(blobDir(server)).filter((name) => name.endsWith(".part"))).toEqual([]);

    const key = files(server).newKey();
    await files(server).writeParts(key, [Buffer.from("input bytes")]);
    expect((await transfers.get(files(server).url(key, "read"), 11)).toString()).toBe("input bytes");
    expect(routes).not.toHaveBeenCalled();
  });

  it("a missing blob and one of another size are clear errors", async () => {
    const transfers = serverTransfers();
    const key = files(server).newKey();
    await expect(transfers.get(files(server).url(key, "read"), 5)).rejects.toThrow(new BlobReadError(`blob ${key} does not exist (it was never written, or was already deleted)`));
    writeFileSync(join(blobDir(server), key), "abcd");
    await expect(transfers.get(files(server).url(key, "read"), 10)).rejects.toThrow(`blob ${key} is 4 bytes but its reference says 10`);
  });

  it("another server's URL, and a path under the prefix that is not a blob key, go over HTTP", async () => {
    const routes = vi.spyOn(BlobApi.prototype, "handleWorker");
    const transfers = serverTransfers();
    const [elsewhere] = files(other).outputPlaces(1);
    await transfers.put(elsewhere!.putUrl, Buffer.from("over http"));
    expect(routes).toHaveBeenCalledTimes(1);
    expect((await files(other).read(elsewhere!.key, 9)).toString()).toBe("over http");
    await expect(transfers.get(`${server.url}/blobs/..%2Flocal-endpoints.json`, 5)).rejects.toThrow(/HTTP 404/);
  });

  it("the environment names the folder; a folder this process cannot see means HTTP only", async () => {
    const [place] = files(server).outputPlaces(1);
    const seen = BlobTransfers.fromEnv({ [LOCAL_BLOB_DIR_ENV]: blobDir(server), [LOCAL_BLOB_URL_ENV]: `${server.url}/blobs/` });
    const unseen = BlobTransfers.fromEnv({ [LOCAL_BLOB_DIR_ENV]: join(root, "not-here"), [LOCAL_BLOB_URL_ENV]: `${server.url}/blobs/` });
    const routes = vi.spyOn(BlobApi.prototype, "handleWorker");
    await seen.put(place!.putUrl, Buffer.from("x"));
    expect(routes).not.toHaveBeenCalled();
    await unseen.put(place!.putUrl, Buffer.from("y"));
    expect(routes).toHaveBeenCalledTimes(1);
    expect(existsSync(join(root, "not-here"))).toBe(false);
  });
});

describe("the handler with the local server's folder", () => {
  it("an argument blob missing from the folder fails the job naming the argument; a result over the threshold lands in its place; the next job runs", async () => {
    const handler = newHandler(engine, { blobs: serverTransfers() });
    const adopted = vi.spyOn(BlobTransfers.prototype, "adopt");
    const put = vi.spyOn(BlobTransfers.prototype, "put");
    const missing = files(server).newKey();
    const failed = await runJob(handler, {
      function_name: "f",
      function_code: "def f(*args):\n    return len(args)",
      serialization_format: "msgpack",
      args: [encodeBase64(1), { ferry_blob: { url: files(server).url(missing, "read"), bytes: 10 } }],
    });
    expect(failed.response).toMatchObject({ success: false, error_type: "DeserializationError" });
    expect(failed.response.error).toContain(`args[1]: blob ${missing} does not exist`);

    const [place] = files(server).outputPlaces(1);
    const big = await runJob(handler, {
      function_name: "f",
      function_code: "def f(n):\n    return b'x' * n",
      serialization_format: "msgpack",
      args: [encodeBase64(100_000)],
      blob_outputs: { threshold_bytes: 1000, put_urls: [place!.putUrl] },
    });
    expect(big.response.result).toEqual({ ferry_blob: { slot: 0, bytes: 100_005 } });
    // The child wrote the result as a file of its own, which was renamed into its place: nothing went over the pipe or HTTP.
    expect(adopted).toHaveBeenCalledTimes(1);
    expect(put).not.toHaveBeenCalled();
    expect(Buffer.from(decodeBase64((await files(server).read(place!.key, 100_005)).toString("base64")) as Uint8Array).equals(Buffer.alloc(100_000, "x"))).toBe(true);
    expect((await runJob(handler, HEALTHY)).response).toMatchObject({ success: true, json_result: 42 });
  });

  it("streamed values go to files the child wrote and are renamed into their places; past the last place one comes back inline; a plain call writes no file", async () => {
    const handler = newHandler(engine, { blobs: serverTransfers() });
    const code = "def gen(n):\n    for i in range(3):\n        yield bytes([i]) * n";
    const childFiles = () => readdirSync(blobDir(server)).filter((name) => name.startsWith("child-"));
    const places = files(server).outputPlaces(2);
    const adopted = vi.spyOn(BlobTransfers.prototype, "adopt");
    const streamed = await runJob(handler, {
      function_name: "gen",
      function_code: code,
      serialization_format: "msgpack",
      args: [encodeBase64(100_000)],
      return_aggregate_stream: false,
      blob_outputs: { threshold_bytes: 1000, put_urls: places.map((p) => p.putUrl) },
    });
    expect(streamed.response.success).toBe(true);
    expect(streamed.values.slice(0, 2)).toEqual([{ ferry_blob: { slot: 0, bytes: 100_005 } }, { ferry_blob: { slot: 1, bytes: 100_005 } }]);
    for (const [i, place] of places.entries()) {
      expect(Buffer.from(decodeBase64((await files(server).read(place.key, 100_005)).toString("base64")) as Uint8Array).equals(Buffer.alloc(100_000, i))).toBe(true);
    }
    expect(Buffer.from(decodeBase64(streamed.values[2] as string) as Uint8Array).equals(Buffer.alloc(100_000, 2))).toBe(true);
    expect(adopted).toHaveBeenCalledTimes(2);
    expect(childFiles()).toEqual([]);

    const [place] = files(server).outputPlaces(1);
    const plain = await runJob(handler, {
      function_name: "gen",
      function_code: code,
      serialization_format: "msgpack",
      args: [encodeBase64(100_000)],
      return_aggregate_stream: true,
      blob_outputs: { threshold_bytes: 1_000_000, put_urls: [place!.putUrl] },
    });
    expect((decodeBase64(plain.response.result as string) as Uint8Array[]).map((v) => v.length)).toEqual([100_000, 100_000, 100_000]);
    expect(childFiles()).toEqual([]);
  });
});
