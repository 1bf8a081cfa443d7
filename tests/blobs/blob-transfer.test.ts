/**
 * Blob bodies over HTTP without whole-body copies, against real servers on 127.0.0.1: an upload
 * sent as parts arrives as their concatenation; the local store's file sender delivers a blob
 * of several pieces byte for byte, and a file shorter than the answer promised reaches the
 * reader as a broken-off body (never as a clean short one), with the server serving on.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getBlob, putBlob, uploadBlob } from "../../protocol/blob-http.ts";
import { sendBlobFile } from "../../sdk/local-server/blob-send.ts";

let server: Server;
let base: string;
let dir: string;
const received = new Map<string, Buffer>();
/** Size the file route promises; the file on disk may be shorter. */
const promised = new Map<string, number>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-blob-transfer-"));
  server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method === "PUT" || req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.set(path, Buffer.concat(chunks));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ length: Number(req.headers["content-length"]) }));
      });
      return;
    }
    const size = promised.get(path);
    if (size === undefined) return res.writeHead(404).end();
    res.writeHead(200, { "content-length": size });
    void sendBlobFile(join(dir, path.slice(1)), size, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe("uploads in parts", () => {
  it("a PUT of several parts arrives as their concatenation, with its length declared", async () => {
    const parts = [pattern(10, 1), pattern(3 * 1024 * 1024 + 7, 2), new Uint8Array(0), pattern(5, 3)];
    await putBlob(`${base}/put`, parts);
    expect(received.get("/put")!.equals(Buffer.concat(parts))).toBe(true);
    const answer = await uploadBlob(`${base}/post`, "POST", parts, { "content-type": "application/octet-stream" });
    expect(answer).toEqual({ status: 200, text: JSON.stringify({ length: 3 * 1024 * 1024 + 22 }) });
  });
});

describe("sending a blob file", () => {
  it("delivers a blob of several pieces byte for byte", async () => {
    const size = 2 * 1024 * 1024 + 12_345;
    const bytes = pattern(size, 9);
    writeFileSync(join(dir, "whole"), bytes);
    promised.set("/whole", size);
    expect((await getBlob(`${base}/whole`, size)).equals(bytes)).toBe(true);
  });

  it("breaks the answer off when the file is shorter than promised, and serves the next request", async () => {
    const size = 3 * 1024 * 1024;
    writeFileSync(join(dir, "short"), pattern(size, 4));
    truncateSync(join(dir, "short"), size - 1000);
    promised.set("/short", size);
    await expect(getBlob(`${base}/short`, size)).rejects.toThrow(/failed after \d+ of 3145728 bytes|ended after \d+ bytes/);
    writeFileSync(join(dir, "after"), pattern(1000, 5));
    promised.set("/after", 1000);
    expect((await getBlob(`${base}/after`, 1000)).equals(pattern(1000, 5))).toBe(true);
  });

  it("an empty blob is an empty answer", async () => {
    writeFileSync(join(dir, "empty"), Buffer.alloc(0));
    promised.set("/empty", 0);
    expect((await getBlob(`${base}/empty`, 0)).byteLength).toBe(0);
  });
});
