// Exposure: what the local servers let in. Both the worker's local API (`--rp_serve_api` of the
// built worker) and the local endpoint server bind 127.0.0.1 by default; with a key configured the
// endpoint server answers 401 to requests without it; bodies over the documented limits (10 MB
// for /run, 20 MB for /runsync) are refused with 413, declared or streamed.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { python } from "../helpers/engine.ts";
import { within } from "./helpers.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const MB = 1024 * 1024;
let dir: string;

/** This machine's addresses other than loopback (where a server bound to 0.0.0.0 would also answer). */
function outsideAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a): a is NonNullable<typeof a> => Boolean(a && !a.internal && a.family === "IPv4"))
    .map((a) => a.address);
}

/**
 * One HTTP request with a body of `size` bytes, declared (Content-Length) or streamed (chunked).
 * Writing stops as soon as the server answers (a 413 may come before the body is sent); a
 * connection reset with no answer at all comes back as status -1.
 */
function post(url: string, size: number, options: { chunked?: boolean; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  // A declared length over the limit is answered from the headers: give the answer a moment to
  // come before writing a body the server will not read (writing into a closing socket makes
  // the kernel reset it, which can swallow the answer).
  const early = !options.chunked && size > 10 * MB;
  return new Promise((resolvePromise) => {
    const target = new URL(url);
    const prefix = Buffer.from('{"input":{"pad":"');
    const suffix = Buffer.from('"}}');
    const padding = Math.max(0, size - prefix.length - suffix.length);
    let answered = false;
    const headers: Record<string, string> = { "Content-Type": "application/json", ...options.headers };
    if (!options.chunked) headers["Content-Length"] = String(prefix.length + padding + suffix.length);
    const req = request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: "POST", headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
        req.destroy();
      });
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (!answered) resolvePromise({ status: -1, body: error.code ?? error.message });
    });
    req.write(prefix);
    if (early) req.flushHeaders();
    const piece = Buffer.alloc(MB, 0x61);
    let left = padding;
    const pump = () => {
      while (left > 0 && !answered && !req.destroyed) {
        const n = Math.min(left, piece.length);
        left -= n;
        if (!req.write(piece.subarray(0, n))) return void req.once("drain", pump);
      }
      if (!answered && !req.destroyed) req.end(suffix);
    };
    if (early) setTimeout(pump, 1_000);
    else pump();
  });
}

function refused(address: string, port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const req = request({ host: address, port, path: "/", method: "GET", timeout: 2_000 }, (res) => {
      res.resume();
      resolvePromise(false);
    });
    req.on("error", () => resolvePromise(true));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-exposure-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the worker's local API (--rp_serve_api)", () => {
  let worker: ChildProcess;
  let api: string;
  const output: string[] = [];

  beforeAll(async () => {
    const venv = join(dir, "venv");
    execFileSync(python, ["-m", "venv", "--system-site-packages", "--without-pip", venv]);
    worker = spawn(process.execPath, [join(ROOT, "dist", "handler.mjs"), "--rp_serve_api", "--rp_api_port", "0"], {
      cwd: dir,
      env: { ...process.env, FERRY_PYTHON: python, FERRY_VENV: venv, RUNPOD_WEBHOOK_GET_JOB: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    api = await within(60_000, "the local API", new Promise<string>((resolvePromise, reject) => {
      const onText = (c: Buffer) => {
        output.push(c.toString());
        const m = /local API listening on (http:\/\/[^\s:]+:\d+)/.exec(output.join(""));
        if (m) resolvePromise(m[1]!);
      };
      worker.stdout!.on("data", onText);
      worker.stderr!.on("data", onText);
      worker.once("exit", (code) => reject(new Error(`worker exited ${code}: ${output.join("").slice(-2000)}`)));
    }));
  }, 90_000);
  afterAll(async () => {
    if (worker.exitCode !== null) return;
    const exited = new Promise((r) => worker.once("exit", r));
    worker.kill("SIGTERM");
    await within(15_000, "the worker to stop", exited).catch(() => worker.kill("SIGKILL"));
  });

  it("binds 127.0.0.1 by default and is not reachable on the machine's other addresses", async () => {
    const url = new URL(api);
    expect(url.hostname).toBe("127.0.0.1");
    for (const address of outsideAddresses()) expect(await refused(address, Number(url.port)), address).toBe(true);
    expect(await refused("127.0.0.1", Number(url.port))).toBe(false);
  });

  it("/run refuses a body over 10 MB with 413, declared or streamed, and accepts one under it", async () => {
    expect((await post(`${api}/run`, 10 * MB + 1)).status).toBe(413);
    expect((await post(`${api}/run`, 10 * MB + 1, { chunked: true })).status).toBe(413);
    const ok = await post(`${api}/run`, 9 * MB);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ status: "IN_QUEUE" });
  });

  it("/runsync refuses a body over 20 MB with 413, declared or streamed", async () => {
    expect((await post(`${api}/runsync?wait=1000`, 20 * MB + 1)).status).toBe(413);
    expect((await post(`${api}/runsync?wait=1000`, 20 * MB + 1, { chunked: true })).status).toBe(413);
    // 15 MB is over /run's limit but within /runsync's: the limits are per route.
    expect((await post(`${api}/run`, 15 * MB)).status).toBe(413);
    expect((await post(`${api}/runsync?wait=1000`, 15 * MB)).status).toBe(200);
  });

  it("the worker is still serving after the refusals", async () => {
    const res = await fetch(`${api}/runsync`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ input: { function_name: "f", function_code: "def f():\n    return 42", serialization_format: "json" } }),
    });
    expect(await res.json()).toMatchObject({ status: "COMPLETED", output: { json_result: 42 } });
  });
});

describe("the local endpoint server", () => {
  let open: LocalServer;
  let keyed: LocalServer;
  const KEY = "local-exposure-key-123";

  beforeAll(async () => {
    open = await startLocalServer({ stateDir: join(dir, "open"), persistEndpoints: false, cwd: dir });
    keyed = await startLocalServer({ stateDir: join(dir, "keyed"), persistEndpoints: false, cwd: dir, apiKey: KEY });
    for (const s of [open, keyed]) s.saveEndpoint({ name: "e", gpuIds: "AMPERE_16", workersMin: 0, workersMax: 0, template: { name: "t", imageName: "x", env: [] } });
  });
  afterAll(async () => {
    await open?.close();
    await keyed?.close();
  });

  it("binds 127.0.0.1 by default and is not reachable on the machine's other addresses", async () => {
    expect(new URL(open.url).hostname).toBe("127.0.0.1");
    for (const address of outsideAddresses()) expect(await refused(address, open.port), address).toBe(true);
  });

  it("with a key, every API route answers 401 without it or with a wrong one, and serves with it", async () => {
    const id = keyed.endpoints()[0]!.id;
    const routes: Array<[string, string, unknown]> = [
      ["GET", `/v2/${id}/health`, undefined],
      ["POST", `/v2/${id}/run`, { input: {} }],
      ["POST", `/v2/${id}/runsync`, { input: {} }],
      ["GET", `/v2/${id}/status/some-job`, undefined],
      ["POST", `/v2/${id}/cancel/some-job`, {}],
      ["POST", `/v2/${id}/purge-queue`, {}],
      ["GET", `/v2/${id}/job-take/pod-1`, undefined],
      ["POST", `/v2/${id}/job-done/pod-1/some-job`, { output: 1 }],
      ["POST", "/graphql", { query: "query { myself { endpoints { id } } }" }],
    ];
    for (const [method, path, body] of routes) {
      const attempts: Array<Record<string, string>> = [{}, { Authorization: "Bearer wrong-key" }, { Authorization: `Bearer ${KEY}x` }, { Authorization: KEY.slice(0, -1) }];
      for (const headers of attempts) {
        const res = await fetch(keyed.url + path, { method, headers: { "Content-Type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
        await res.text();
        expect(res.status, `${method} ${path} with ${JSON.stringify(headers)}`).toBe(401);
      }
    }
    for (const auth of [`Bearer ${KEY}`, KEY]) {
      const health = await fetch(`${keyed.url}/v2/${id}/health`, { headers: { Authorization: auth } });
      expect(health.status).toBe(200);
      const gql = await fetch(`${keyed.url}/graphql`, { method: "POST", headers: { Authorization: auth, "Content-Type": "application/json" }, body: JSON.stringify({ query: "query { myself { endpoints { id } } }" }) });
      expect(gql.status).toBe(200);
    }
    // Without a key configured, the same request is served.
    expect((await fetch(`${open.url}/v2/${open.endpoints()[0]!.id}/health`)).status).toBe(200);
  });

  it("refuses /run bodies over 10 MB and /runsync bodies over 20 MB with 413", async () => {
    const id = open.endpoints()[0]!.id;
    expect((await post(`${open.url}/v2/${id}/run`, 10 * MB + 1)).status).toBe(413);
    expect((await post(`${open.url}/v2/${id}/run`, 10 * MB + 1, { chunked: true })).status).toBe(413);
    expect((await post(`${open.url}/v2/${id}/runsync?wait=1000`, 20 * MB + 1, { chunked: true })).status).toBe(413);
    expect((await post(`${open.url}/v2/${id}/run`, 9 * MB)).status).toBe(200);
  });
});
