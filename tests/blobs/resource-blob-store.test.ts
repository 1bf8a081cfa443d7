/**
 * `blobStore` as a resource option, against a real S3 protocol server (s3rver) on 127.0.0.1:
 * the resource's store wins over configure()'s, configure()'s over FERRY_BLOB_S3_* variables,
 * and a resource's `false` sends every value inline. Which bucket the values went through is
 * read from the server's own events.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, configure, LiveServerless, remote } from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { getRuntime } from "../../sdk/runtime.ts";

interface S3rverEvent {
  Records: Array<{ eventName: string; s3: { bucket: { name: string } } }>;
}
interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  on(event: "event", listener: (event: S3rverEvent) => void): void;
}
const S3rver = createRequire(import.meta.url)("s3rver") as new (options: Record<string, unknown>) => S3rverInstance;

const KEYS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
const BUCKETS = ["from-resource", "from-configure", "from-env"] as const;
const NAME = "resource-store";
const PY = `
def echo(value):
    return value
`;

let s3: S3rverInstance;
let s3Url: string;
let s3Dir: string;
let stateDir: string;
let server: LocalServer;
/** Buckets an object was written into, one entry per write. */
let written: string[] = [];
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  s3Dir = mkdtempSync(join(tmpdir(), "ferry-s3rver-"));
  s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: s3Dir, configureBuckets: BUCKETS.map((name) => ({ name })) });
  s3.on("event", (event) => {
    for (const record of event.Records) if (record.eventName.startsWith("ObjectCreated")) written.push(record.s3.bucket.name);
  });
  s3Url = `http://127.0.0.1:${(await s3.run()).port}`;
  stateDir = mkdtempSync(join(tmpdir(), "ferry-resource-store-"));
  server = await startLocalServer({ stateDir, persistEndpoints: false });
  // A store named by variables carries no keys: the AWS SDK's own chain finds them.
  process.env.AWS_ACCESS_KEY_ID = KEYS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = KEYS.secretAccessKey;
}, 120_000);

afterAll(async () => {
  if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
  else process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
  if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
  else process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  await getRuntime().close();
  await server?.close();
  await s3?.close();
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(s3Dir, { recursive: true, force: true });
});

beforeEach(() => {
  written = [];
});

const store = (bucket: (typeof BUCKETS)[number]) => ({ bucket, endpoint: s3Url, ...KEYS });
// The rest of this environment stays: the endpoint's workers find their Python through it.
const env = () => ({ ...process.env, FERRY_BLOB_S3_BUCKET: "from-env", FERRY_BLOB_S3_ENDPOINT: s3Url });
const value = new Uint8Array(2 * 1024 * 1024).map((_, i) => i % 253);

/** One round trip of a 2 MB value (over the 1 MB threshold) through a resource of the shared endpoint. */
async function roundTrip(options: Partial<ConstructorParameters<typeof LiveServerless>[0]> = {}): Promise<void> {
  const echo = remote(new LiveServerless({ name: NAME, workersMax: 1, idleTimeout: 600, ...options })).function<[value: Uint8Array], Uint8Array>(PY, "echo");
  const back = await echo(value);
  expect(Buffer.compare(Buffer.from(back), Buffer.from(value))).toBe(0);
}

function localStoreFiles(): string[] {
  const dir = join(stateDir, "blobs");
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
}

describe("a resource's blobStore", () => {
  it("wins over configure()'s store and the environment's", async () => {
    await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, blobStore: store("from-configure"), env: env() });
    await roundTrip({ blobStore: store("from-resource") });
    // The argument written by the SDK, the result by the worker through its presigned PUT.
    expect(written).toEqual(["from-resource", "from-resource"]);
  }, 180_000);

  it("without one, configure()'s store wins over the environment's", async () => {
    await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, blobStore: store("from-configure"), env: env() });
    await roundTrip();
    expect(written).toEqual(["from-configure", "from-configure"]);
  }, 180_000);

  it("with neither, the FERRY_BLOB_S3_* variables name the store", async () => {
    await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, env: env() });
    await roundTrip();
    expect(written).toEqual(["from-env", "from-env"]);
  }, 180_000);

  it("false sends every value inline, whatever configure() and the environment name", async () => {
    await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, blobStore: store("from-configure"), env: env() });
    await roundTrip({ blobStore: false });
    expect(written).toEqual([]);
    expect(localStoreFiles()).toEqual([]);
  }, 180_000);

  it("is checked like configure()'s: an unknown option or no bucket is a ConfigError", () => {
    expect(() => new LiveServerless({ name: NAME, blobStore: { bucket: "b", bukcet: "x" } as never })).toThrow(ConfigError);
    expect(() => new LiveServerless({ name: NAME, blobStore: { endpoint: s3Url } as never })).toThrow(/blobStore/);
  });

  it("is the caller's setting: the endpoint's input and settings hash do not carry it", () => {
    const plain = new LiveServerless({ name: NAME });
    const withStore = new LiveServerless({ name: NAME, blobStore: store("from-resource") });
    expect(withStore.endpointInput({})).toEqual(plain.endpointInput({}));
    expect(JSON.stringify(withStore.endpointInput({}))).not.toContain("S3RVER");
  });
});
