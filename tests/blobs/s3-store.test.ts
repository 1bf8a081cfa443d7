/**
 * The RunPod path's blob store against a real S3 protocol server (s3rver) on 127.0.0.1: the SDK
 * writes inputs and presigns, the worker (the real built worker, under the local server) only
 * GETs and PUTs presigned URLs, and every object is deleted once the result is read. A caller
 * on RunPod without a store gets PayloadTooLargeError before anything is sent.
 */
import { createServer, type Server } from "node:http";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configure, LiveServerless, PayloadTooLargeError, remote } from "../../sdk/index.ts";
import { S3BlobStore } from "../../sdk/blobs/s3-blob-store.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { getRuntime } from "../../sdk/runtime.ts";
import { newEngine, newHandler, runJob } from "../helpers/engine.ts";

interface S3rverEvent {
  Records: Array<{ eventName: string; s3: { object: { key: string } } }>;
}
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  on(event: "event", listener: (event: S3rverEvent) => void): void;
}
const S3rver = createRequire(import.meta.url)("s3rver") as new (options: Record<string, unknown>) => S3rverInstance;

const BUCKET = "ferry-test";
const KEYS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
let s3: S3rverInstance;
let s3Url: string;
let s3Dir: string;
let stateDir: string;
let server: LocalServer;
const events: string[] = [];

const PY = `
def echo(value):
    return value
`;

async function objectsInBucket(): Promise<string[]> {
  const client = new S3Client({ region: "us-east-1", endpoint: s3Url, forcePathStyle: true, credentials: KEYS });
  const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

beforeAll(async () => {
  s3Dir = mkdtempSync(join(tmpdir(), "ferry-s3rver-"));
  s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: s3Dir, configureBuckets: [{ name: BUCKET }] });
  s3.on("event", (event) => events.push(...event.Records.map((r) => r.eventName)));
  const { port } = await s3.run();
  s3Url = `http://127.0.0.1:${port}`;
  stateDir = mkdtempSync(join(tmpdir(), "ferry-s3-"));
  server = await startLocalServer({ stateDir, persistEndpoints: false });
}, 120_000);

afterAll(async () => {
  await getRuntime().close();
  await server?.close();
  await s3?.close();
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(s3Dir, { recursive: true, force: true });
});

describe("an S3-compatible blob store", () => {
  it("carries a large argument and result through presigned URLs, and deletes every object after the result is read", async () => {
    await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, blobStore: { bucket: BUCKET, endpoint: s3Url, ...KEYS } });
    const echo = remote(new LiveServerless({ name: "s3-blobs", workersMax: 1 })).function<[value: Uint8Array], Uint8Array>(PY, "echo");
    const value = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    const back = await echo(value);
    expect(Buffer.compare(Buffer.from(back), Buffer.from(value))).toBe(0);
    // One object written by the SDK (the argument), one by the worker through its presigned PUT (the result).
    expect(events.filter((e) => e.startsWith("ObjectCreated"))).toHaveLength(2);
    for (let i = 0; i < 100 && (await objectsInBucket()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await objectsInBucket()).toEqual([]);
    // Nothing went through the local server's own store.
    expect(existsSync(join(stateDir, "blobs")) ? readdirSync(join(stateDir, "blobs")) : []).toEqual([]);
  }, 180_000);

  it("an expired presigned URL fails the job naming the argument", async () => {
    const store = new S3BlobStore({ bucket: BUCKET, endpoint: s3Url, ...KEYS, urlTtlSeconds: 1 });
    const stored = await store.putInput({ parts: [new Uint8Array([0xc4, 1, 7])], byteLength: 3 });
    await new Promise((r) => setTimeout(r, 2_100));
    const engine = newEngine();
    try {
      const { response } = await runJob(newHandler(engine), { function_name: "f", function_code: "def f(x):\n    return x", serialization_format: "msgpack", args: [{ ferry_blob: { url: stored.url, bytes: 3 } }] });
      expect(response).toMatchObject({ success: false, error_type: "DeserializationError" });
      expect(response.error).toMatch(/args\[0\]: fetching http:\/\/127\.0\.0\.1:\d+\/ferry-test\/\S+\?\.\.\. answered HTTP 403 \(a presigned URL that expired/);
    } finally {
      await engine.stop();
      await store.delete([stored.key]);
    }
  }, 60_000);
});

describe("RunPod without a blob store", () => {
  let api: Server;
  let requests = 0;

  beforeAll(async () => {
    api = createServer((_req, res) => {
      requests++;
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  });
  afterAll(() => new Promise<void>((resolve) => api.close(() => resolve())));

  it("a call over RunPod's cap fails with PayloadTooLargeError before anything is encoded or sent", async () => {
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    await configure({ target: "runpod", apiKey: "test-key", endpointBaseUrl: `${url}/v2`, graphqlUrl: `${url}/graphql`, stateDir, quiet: true, onLog: false, env: {} });
    const echo = remote(new LiveServerless({ name: "no-store" })).function<[value: Float32Array], Float32Array>(PY, "echo");
    const error = await echo(new Float32Array(6 * 1024 * 1024)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as PayloadTooLargeError).capBytes).toBe(10 * 1024 * 1024);
    expect((error as Error).message).toMatch(/about 32\.0 MB, over RunPod's 10\.0 MB cap for \/run, and no blob store is configured: configure one/);
    // Streaming calls go through /run too.
    const streamed = await (async () => {
      for await (const _ of echo.stream(new Float32Array(3 * 1024 * 1024))) return undefined;
    })().catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(PayloadTooLargeError);
    expect(requests).toBe(0);
  });
});
