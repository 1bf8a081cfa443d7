/**
 * Large values through remote() on the local default: the local server, its real worker
 * (`node dist/handler.mjs`) and the real Python child. Values over the 1 MB threshold travel
 * as blobs in the server's store; the caller sees the same values it would inline.
 */
import { randomFillSync } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configure, LiveServerless, remote, type NdArray } from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { getRuntime } from "../../sdk/runtime.ts";

let server: LocalServer;
let stateDir: string;
const MiB = 1024 * 1024;

const py = remote(new LiveServerless({ name: "large-values", workersMax: 1, idleTimeout: 300 }));
const PY = `
import numpy as np

def scale(x, factor):
    assert isinstance(x, np.ndarray), type(x)
    return x * np.float32(factor)

def echo(value):
    return value

def chunks(n, size):
    for i in range(n):
        yield bytes([i]) * size
`;
const scale = py.function<[x: Float32Array, factor: number], NdArray<Float32Array>>(PY, "scale");
const echo = py.function<[value: unknown], unknown>(PY, "echo");
const chunks = py.function<[n: number, size: number], Uint8Array[]>(PY, "chunks");

function blobFiles(): string[] {
  const dir = join(stateDir, "blobs");
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Deletion after the result is read is not waited for by the call: give it a moment. */
async function expectNoBlobsLeft(): Promise<void> {
  for (let i = 0; i < 100 && blobFiles().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  expect(blobFiles()).toEqual([]);
}

function floats(count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (i % 1000) - 500.25;
  return out;
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "ferry-large-"));
  server = await startLocalServer({ stateDir, persistEndpoints: false });
  await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false });
  expect(await echo(1)).toBe(1);
}, 120_000);

afterAll(async () => {
  await getRuntime().close();
  await server?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe("large values on the local default", () => {
  it.each([
    ["1 MB", 1],
    ["64 MB", 64],
  ])("a %s Float32Array argument and result keep shape, dtype and values", async (_label, mb) => {
    const count = (mb * MiB) / 4;
    const x = floats(count);
    const y = await scale(x, 2);
    expect(y).toBeInstanceOf(Float32Array);
    expect(y.shape).toEqual([count]);
    expect(y.dtype).toBe("<f4");
    expect(y.length).toBe(count);
    for (const i of [0, 1, 999, count >> 1, count - 1]) expect(y[i]).toBe(x[i]! * 2);
    await expectNoBlobsLeft();
  }, 180_000);

  it("a 100 MB Uint8Array of random bytes comes back byte for byte", async () => {
    const bytes = new Uint8Array(100 * MiB);
    for (let i = 0; i < bytes.length; i += 65536) randomFillSync(bytes, i, Math.min(65536, bytes.length - i));
    const back = (await echo(bytes)) as Uint8Array;
    expect(back).toBeInstanceOf(Uint8Array);
    expect(back.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(bytes.buffer))).toBe(0);
    await expectNoBlobsLeft();
  }, 180_000);

  it("a generator yielding 5 values of 10 MB arrives whole through .stream() and through a plain call", async () => {
    const streamed: Uint8Array[] = [];
    for await (const value of chunks.stream(5, 10 * MiB)) streamed.push(value);
    expect(streamed.map((v) => [v.length, v[0], v[v.length - 1]])).toEqual([0, 1, 2, 3, 4].map((i) => [10 * MiB, i, i]));

    const listed = await chunks(5, 10 * MiB);
    expect(listed.map((v) => [v.length, v[0], v[v.length - 1]])).toEqual([0, 1, 2, 3, 4].map((i) => [10 * MiB, i, i]));
    await expectNoBlobsLeft();
  }, 180_000);

  it("small values stay inline (no blob is written) and nothing is left in progress", async () => {
    expect(await echo({ a: [1, 2, 3] })).toEqual({ a: [1, 2, 3] });
    expect(blobFiles()).toEqual([]);
    const endpointId = server.endpoints()[0]!.id;
    expect(server.health(endpointId).jobs.inProgress).toBe(0);
  });
});
