// Secrets: the built worker (dist/handler.mjs, spawned as a process) runs with HF_TOKEN,
// RUNPOD_API_KEY and RUNPOD_AI_API_KEY set to marker values, and jobs that fail in every way
// (user code dumping the environment to stdout, stderr and logging, returning and streaming it,
// a pip install against an index whose URL holds a secret, a model download the hub refuses
// while echoing the Authorization header, a crash). Every log line (stdout + stderr, DEBUG) and
// every response and stream chunk is searched for the markers: none may appear.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { python } from "../helpers/engine.ts";
import { within } from "./helpers.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const WORKER = join(ROOT, "dist", "handler.mjs");
// Markers: the cores are what the search looks for, so a partly printed secret is caught too.
const CORES = { HF_TOKEN: "MARKhftokenQ7x", RUNPOD_API_KEY: "MARKrpapikeyZ3k", RUNPOD_AI_API_KEY: "MARKaikeyW9v" } as const;
const SECRETS = { HF_TOKEN: `hf_${CORES.HF_TOKEN}0123`, RUNPOD_API_KEY: `rpa_${CORES.RUNPOD_API_KEY}4567`, RUNPOD_AI_API_KEY: `ai_${CORES.RUNPOD_AI_API_KEY}89ab` };

let dir: string;
let echo: Server;
let echoUrl: string;
const echoSeen: string[] = [];
let worker: ChildProcess;
let api: string;
const output: string[] = [];

function workerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...SECRETS };
  for (const key of Object.keys(env)) if (key.startsWith("RUNPOD_WEBHOOK") || key === "RUNPOD_ENDPOINT_ID") delete env[key];
  return {
    ...env,
    FERRY_PYTHON: python,
    FERRY_VENV: join(dir, "venv"),
    HF_HUB_CACHE: join(dir, "hf"),
    HF_ENDPOINT: echoUrl,
    // A private index whose URL carries a secret (as a path part, so pip does not mask it itself).
    PIP_INDEX_URL: `${echoUrl}/${SECRETS.RUNPOD_API_KEY}/simple/`,
    UV_INDEX_URL: `${echoUrl}/${SECRETS.RUNPOD_API_KEY}/simple/`,
    PIP_RETRIES: "0",
    PIP_TIMEOUT: "5",
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
  };
}

function leaks(text: string): string[] {
  return Object.entries(CORES)
    .filter(([, core]) => text.includes(core))
    .map(([name]) => name);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-secrets-"));
  // A hub and package index that refuse everything and echo back what they were sent.
  echo = createServer((req, res) => {
    echoSeen.push(`${req.url} ${req.headers.authorization ?? ""}`);
    const body = JSON.stringify({ error: `refused ${req.url} for ${req.headers.authorization ?? "anonymous"}` });
    res.writeHead(req.url?.includes("/api/") ? 401 : 404, { "Content-Type": "application/json", "X-Error-Message": `refused ${req.headers.authorization ?? ""}` });
    res.end(body);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;

  worker = spawn(process.execPath, [WORKER, "--rp_serve_api", "--rp_api_port", "0", "--rp_log_level", "DEBUG"], { cwd: dir, env: workerEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const listening = new Promise<string>((resolvePromise, reject) => {
    const onText = (chunk: Buffer) => {
      output.push(chunk.toString("utf8"));
      const m = /local API listening on (http:\/\/[\d.]+:\d+)/.exec(output.join(""));
      if (m) resolvePromise(m[1]!);
    };
    worker.stdout!.on("data", onText);
    worker.stderr!.on("data", onText);
    worker.once("exit", (code) => reject(new Error(`the worker exited with ${code}:\n${output.join("").slice(-3000)}`)));
  });
  api = await within(90_000, "the worker's local API", listening);
}, 120_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((r) => worker.once("exit", r));
    worker.kill("SIGTERM");
    await within(15_000, "the worker to stop", exited).catch(() => worker.kill("SIGKILL"));
  }
  await new Promise<void>((r) => echo.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function runsync(input: Record<string, unknown>): Promise<{ status: string; text: string; stream: string }> {
  const res = await fetch(`${api}/runsync?wait=60000`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ input }) });
  const text = await res.text();
  const body = JSON.parse(text) as { id: string; status: string };
  // The stream was kept for the job: read what a /stream client would have received.
  const stream = await (await fetch(`${api}/stream/${body.id}`)).text();
  return { status: body.status, text, stream };
}

const dumpEnv = "import os, sys, logging\n" +
  "def f():\n" +
  "    env = dict(os.environ)\n" +
  "    print('ENV', env)\n" +
  "    print('TOKEN', os.environ.get('HF_TOKEN'), file=sys.stderr)\n" +
  "    logging.warning('token %s', os.environ.get('HF_TOKEN'))\n";

const JOBS: Array<[string, Record<string, unknown>, string]> = [
  ["user code dumps the environment and raises with the token", { function_name: "f", function_code: `${dumpEnv}    raise RuntimeError('env ' + repr(env))`, serialization_format: "json" }, "FAILED"],
  ["user code returns the token and the environment", { function_name: "f", function_code: `${dumpEnv}    return {'token': os.environ.get('HF_TOKEN'), 'env': env}`, serialization_format: "json" }, "COMPLETED"],
  ["a generator yields the token", { function_name: "f", function_code: "import os\ndef f():\n    yield os.environ.get('HF_TOKEN')\n    yield {'env': dict(os.environ)}", serialization_format: "json", return_aggregate_stream: true }, "COMPLETED"],
  ["a class whose constructor prints the token and fails", { execution_type: "class", class_name: "C", class_code: "import os\nclass C:\n    def __init__(self):\n        print(os.environ.get('HF_TOKEN'))\n        raise ValueError(os.environ.get('HF_TOKEN'))", serialization_format: "json" }, "FAILED"],
  ["the child crashes after printing the environment", { function_name: "f", function_code: `${dumpEnv}    sys.stderr.flush()\n    os._exit(3)`, serialization_format: "json" }, "FAILED"],
  ["a pip install against an index whose URL holds a secret fails", { function_name: "f", function_code: "def f():\n    return 1", dependencies: ["ferry-no-such-package-xyz==1.0"], serialization_format: "json" }, "FAILED"],
  ["a model download the hub refuses (echoing the Authorization header) fails", { function_name: "f", function_code: "def f():\n    return 1", hf_models_to_cache: ["ferry-test/secret-model"], serialization_format: "json" }, "FAILED"],
  ["an invalid job whose fields hold the token", { function_name: SECRETS.HF_TOKEN, execution_type: SECRETS.RUNPOD_API_KEY, dependencies: [`--index-url=${SECRETS.RUNPOD_AI_API_KEY}`] }, "FAILED"],
];

describe("no secret value leaves the built worker", () => {
  const results: Array<{ name: string; status: string; text: string; stream: string }> = [];

  it.each(JOBS)("%s: its response holds no secret", async (name, input, expected) => {
    const result = await runsync(input);
    results.push({ name, ...result });
    expect(result.status, result.text.slice(0, 500)).toBe(expected);
    expect(leaks(result.text), `response of "${name}"`).toEqual([]);
  });

  it("the stream chunks of those jobs (live log lines, yielded values) hold no secret", () => {
    expect(results.length).toBe(JOBS.length);
    const leaking = results.filter((r) => leaks(r.stream).length > 0).map((r) => `${r.name}: ${leaks(r.stream).join(", ")}`);
    expect(leaking).toEqual([]);
  });

  it("the jobs did reach the places that hold secrets (so the searches above can fail)", () => {
    // The hub was asked with the token, and pip asked the index whose URL holds the key.
    expect(echoSeen.some((l) => l.includes(SECRETS.HF_TOKEN))).toBe(true);
    expect(echoSeen.some((l) => l.includes(SECRETS.RUNPOD_API_KEY))).toBe(true);
    // User code did see HF_TOKEN (by design) and printed it: the printed line reached the logs redacted.
    expect(output.join("")).toContain("[redacted]");
    expect(results.length).toBe(JOBS.length);
  });

  it("user code sees HF_TOKEN but never RUNPOD_API_KEY or RUNPOD_AI_API_KEY", async () => {
    const { text } = await runsync({
      function_name: "f",
      function_code: "import os\ndef f():\n    return [k for k in ('HF_TOKEN', 'RUNPOD_API_KEY', 'RUNPOD_AI_API_KEY') if k in os.environ]",
      serialization_format: "json",
    });
    expect(JSON.parse(text).output.json_result).toEqual(["HF_TOKEN"]);
  });

  it("every worker log line (stdout and stderr, DEBUG) is free of the secrets", async () => {
    await new Promise((r) => setTimeout(r, 300));
    const log = output.join("");
    expect(log.split("\n").length).toBeGreaterThan(20);
    const leaking = log.split("\n").filter((line) => leaks(line).length > 0);
    expect(leaking.map((l) => l.slice(0, 300))).toEqual([]);
  });

  it("--test_input: a crashing job's logs and result hold no secret", async () => {
    const input = { input: { function_name: "f", function_code: `${dumpEnv}    import ctypes\n    ctypes.string_at(0)`, serialization_format: "json" } };
    const out: string[] = [];
    const child = spawn(process.execPath, [WORKER, "--test_input", JSON.stringify(input), "--rp_log_level", "DEBUG"], { cwd: dir, env: workerEnv(), stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (c: Buffer) => out.push(c.toString()));
    child.stderr!.on("data", (c: Buffer) => out.push(c.toString()));
    const code = await within(60_000, "the --test_input run", new Promise<number | null>((r) => child.once("exit", r)));
    const log = out.join("");
    expect(code, log.slice(-2000)).toBe(1);
    expect(log).toContain("WorkerProcessDied");
    expect(log.split("\n").filter((l) => leaks(l).length > 0).map((l) => l.slice(0, 300))).toEqual([]);
  }, 90_000);
});
