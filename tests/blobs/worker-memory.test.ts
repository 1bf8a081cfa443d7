/**
 * The worker's memory around large values, through Ferry's handler, the real Python child and
 * real HTTP servers on 127.0.0.1: a result is uploaded from its own buffer (no copy of it in the
 * worker), and the child gives a large argument's memory back once the call is done, not when
 * the next call comes. (worker-memory-local.test.ts measures the worker process itself.)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64 } from "../../sdk/codec.ts";
import { uploadBlob } from "../../handler/blobs/blob-transfer.ts";
import { newEngine, newHandler, runJob } from "../helpers/engine.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";

const MiB = 1024 * 1024;
let engine: PythonEngine;
let handler: JobHandler;
/** A PUT sink in a process of its own, so that what it receives is not this process's memory. */
let sink: ChildProcess;
let sinkBase: string;

/** Accepts a PUT only with a declared length that its body matches, and no chunked encoding (what presigned S3 PUTs need). */
const SINK = `
const http = require("node:http");
const server = http.createServer((req, res) => {
  let received = 0;
  req.on("data", (c) => (received += c.length));
  req.on("end", () => {
    const declared = Number(req.headers["content-length"]);
    const ok = req.method === "PUT" && !req.headers["transfer-encoding"] && declared === received;
    res.writeHead(ok ? 200 : 400).end(ok ? "" : "length " + req.headers["content-length"] + ", received " + received + ", encoding " + req.headers["transfer-encoding"]);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;

function residentMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) / 1024;
}

beforeAll(async () => {
  engine = newEngine();
  await engine.start();
  handler = newHandler(engine);
  sink = spawn(process.execPath, ["-e", SINK], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve) => sink.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim())));
  sinkBase = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  sink?.kill();
  await engine?.stop();
});

/** The largest growth of this process's ArrayBuffer memory while `work` runs, sampled every 2 ms. */
async function peakArrayBufferGrowth(work: () => Promise<unknown>): Promise<number> {
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 2);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, process.memoryUsage().arrayBuffers) - before;
}

describe("uploads", () => {
  it("a 64 MB value is PUT from its own buffer: no copy of it is made, and the PUT declares its length", async () => {
    const value = Buffer.alloc(64 * MiB, 7);
    const growth = await peakArrayBufferGrowth(() => uploadBlob(`${sinkBase}/out-0?X-Amz-Signature=s`, value));
    // fetch made two copies of the body (128 MB); the PUT's own needs are a few small buffers.
    expect(growth / MiB).toBeLessThan(16);
  });

  it("a refused PUT says what the place answered, without the URL's query", async () => {
    const refused = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(403).end("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"));
    });
    await new Promise<void>((resolve) => refused.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(refused.address() as AddressInfo).port}/out?X-Amz-Signature=secret-part`;
    try {
      const error = await uploadBlob(url, Buffer.alloc(1000)).then(() => undefined, (e: Error) => e);
      expect(error?.message).toMatch(/^uploading to http:\/\/127\.0\.0\.1:\d+\/out\?\.\.\. answered HTTP 403 \(a presigned URL that expired.*Request has expired/);
      expect(error?.message).not.toContain("secret-part");
    } finally {
      await new Promise<void>((resolve) => refused.close(() => resolve()));
    }
  });
});

describe("memory after a call", () => {
  it("after a 64 MB argument the child's memory comes back without waiting for another call", async () => {
    const childPid = engine.childInfo!.pid;
    const code = "def f(a):\n    return int(a.nbytes)";
    const small = { function_name: "f", function_code: code, serialization_format: "msgpack" as const, args: [encodeBase64(new Float32Array(4))] };
    expect((await runJob(handler, small)).response.success).toBe(true);
    const before = residentMiB(childPid);
    const big = { ...small, args: [encodeBase64(new Float32Array((64 * MiB) / 4))] };
    const { response } = await runJob(handler, big);
    expect(response.success, response.error ?? "").toBe(true);
    // The child answers before it drops the call: its memory comes back just after the answer.
    const deadline = Date.now() + 5_000;
    while (residentMiB(childPid) - before >= 16 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(residentMiB(childPid) - before).toBeLessThan(16);
  }, 60_000);
});
