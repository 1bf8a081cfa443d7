/**
 * The worker's side of values by reference, through Ferry's handler and the real Python child:
 * argument blobs that cannot be read fail the job naming the argument (and the worker serves
 * the next job), a result over the threshold is PUT to the place the request gave, and a
 * finished call's arguments are freed without waiting for Python's cyclic collector.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64 } from "../../sdk/codec.ts";
import { HEALTHY, newEngine, newHandler, runJob } from "../helpers/engine.ts";
import { memoryProbeCode } from "../helpers/python-memory-probe.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";

let engine: PythonEngine;
let handler: JobHandler;
let blobServer: Server;
let base: string;
const stored = new Map<string, Buffer>();
/** MessagePack of 5 bytes, as a stored argument. */
const OK_BODY = Buffer.from(encodeBase64(new Uint8Array(5)), "base64");

const ECHO = { function_name: "f", function_code: "def f(*args, **kwargs):\n    return [len(a) for a in args] + sorted(kwargs)", serialization_format: "msgpack" as const };

beforeAll(async () => {
  engine = newEngine();
  await engine.start();
  handler = newHandler(engine);
  blobServer = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method === "PUT") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        stored.set(path, Buffer.concat(chunks));
        res.writeHead(200).end();
      });
      return;
    }
    if (path === "/ok") return res.writeHead(200, { "content-length": OK_BODY.length }).end(OK_BODY);
    if (path === "/expired") return res.writeHead(403).end("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>");
    if (path === "/wrong-size") return res.writeHead(200, { "content-length": 4 }).end("abcd");
    if (path === "/truncated") {
      // No length declared (chunked): the body simply ends early.
      res.writeHead(200);
      res.write("abc");
      return res.end();
    }
    res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => blobServer.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(blobServer.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await engine?.stop();
  await new Promise<void>((resolve) => blobServer?.close(() => resolve()));
});

const ref = (path: string, bytes: number) => ({ ferry_blob: { url: `${base}${path}?X-Amz-Signature=secret-part`, bytes } });

describe("argument blobs", () => {
  it("a readable blob reaches Python as the value it encodes", async () => {
    const { response } = await runJob(handler, { ...ECHO, args: [ref("/ok", OK_BODY.length)] });
    expect(response.success).toBe(true);
    expect(decodeBase64(response.result as string)).toEqual([5]);
  });

  // The URLs are made inside each test: the blob server's port is known only once it listens.
  it.each([
    ["a blob URL that answers 404", () => ({ args: [ref("/missing", 10)] }), "args[0]", /HTTP 404/],
    ["a truncated blob", () => ({ args: [encodeBase64(1), ref("/truncated", 10)] }), "args[1]", /ended after 3 bytes; its reference says 10 \(truncated\)/],
    ["a blob whose size disagrees with its reference", () => ({ kwargs: { mask: ref("/wrong-size", 10) } }), "kwargs.mask", /is 4 bytes but its reference says 10/],
    ["an expired presigned URL", () => ({ args: [ref("/expired", 10)] }), "args[0]", /HTTP 403 \(a presigned URL that expired/],
  ])("%s fails the job naming the argument, and the worker serves the next job", async (_name, fields, where, reason) => {
    const { response } = await runJob(handler, { ...ECHO, ...fields() });
    expect(response.success).toBe(false);
    expect(response.error_type).toBe("DeserializationError");
    expect(response.error).toContain(`${where}: `);
    expect(response.error).toMatch(reason);
    // The URL's query (a signature or token) is never echoed.
    expect(response.error).not.toContain("secret-part");
    const next = await runJob(handler, HEALTHY);
    expect(next.response).toMatchObject({ success: true, json_result: 42 });
  });
});

describe("output places", () => {
  it("a result over the threshold is PUT to the first place and answered as a reference; a small one stays inline", async () => {
    const code = "def f(n):\n    return b'x' * n";
    const blob_outputs = { threshold_bytes: 1000, put_urls: [`${base}/out-0`] };
    const big = await runJob(handler, { function_name: "f", function_code: code, args: [encodeBase64(5000)], serialization_format: "msgpack", blob_outputs });
    expect(big.response.result).toEqual({ ferry_blob: { slot: 0, bytes: 5003 } });
    expect(stored.get("/out-0")!.length).toBe(5003);
    const small = await runJob(handler, { function_name: "f", function_code: code, args: [encodeBase64(10)], serialization_format: "msgpack", blob_outputs });
    expect(typeof small.response.result).toBe("string");
  });

  it("a place that refuses the upload fails the job with the reason", async () => {
    const code = "def f(n):\n    return b'x' * n";
    const blob_outputs = { threshold_bytes: 10, put_urls: ["http://127.0.0.1:1/closed"] };
    const { response } = await runJob(handler, { function_name: "f", function_code: code, args: [encodeBase64(100)], serialization_format: "msgpack", blob_outputs });
    expect(response).toMatchObject({ success: false, error_type: "ResultDeliveryError" });
    expect(response.error).toMatch(/could not be delivered: could not upload to http:\/\/127\.0\.0\.1:1\/closed/);
  });
});

describe("large arguments beside the frame", () => {
  it("arrays and bytes over 64 KB, positional and keyword, arrive whole; an array is writable in place", async () => {
    const array = new Float32Array(100_000).map((_, i) => i);
    const bytes = new Uint8Array(200_000).fill(7);
    const code = [
      "def f(a, small, b=None):",
      "    a *= 2",
      "    return [float(a[1]), float(a[-1]), bool(a.flags.writeable), len(b), b[0], small]",
    ].join("\n");
    const { response } = await runJob(handler, {
      function_name: "f",
      function_code: code,
      serialization_format: "msgpack",
      args: [encodeBase64(array), encodeBase64("tiny")],
      kwargs: { b: encodeBase64(bytes) },
    });
    expect(response.success, response.error ?? "").toBe(true);
    expect(decodeBase64(response.result as string)).toEqual([2, 199_998, true, 200_000, 7, "tiny"]);
  });
});

describe("memory after each call", () => {
  it("a finished call's arguments are freed at once, with the cyclic collector off", async () => {
    // numpy is imported at the top, before tracing starts: its modules are not the calls' memory.
    const code = memoryProbeCode([
      "def keep(x):",
      "    REFS.append(weakref.ref(x))",
      "    return int(x.nbytes)",
    ]);
    const call = (name: string, args: string[] = []) => runJob(handler, { function_name: name, function_code: code, args, serialization_format: "msgpack" });
    expect((await call("start")).response.success).toBe(true);
    const arg = encodeBase64(new Float32Array(256 * 1024)); // 1 MB
    for (let i = 0; i < 8; i++) expect((await call("keep", [arg])).response.success).toBe(true);
    const { response } = await call("alive");
    const [alive, traced] = decodeBase64(response.result as string) as [number, number];
    expect(alive).toBe(0);
    // 8 MB went through; what is still allocated since start() is far less than one argument.
    expect(traced).toBeLessThan(1024 * 1024);
  });
});
