/**
 * `make peers PEERS=<folder>`: RunPod's own software against Ferry, for development (not part of
 * `make test`: it needs the peers' repositories, which CI cannot fetch). <folder> holds checkouts
 * of runpod-python, runpod-flash (tetra-rp) and worker-tetra; runpod-sdk is the npm package in
 * node_modules. Their Python dependencies come from Debian's python3-* packages (see
 * docs/peers.md), with the stand-ins in scripts/peers/python/shims for the two Debian lacks.
 * Prints a table of what passed; a peer that is absent is listed as not run.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import runpodSdk from "runpod-sdk";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const HERE = join(ROOT, "scripts", "peers", "python");
const folder = resolve(process.argv[2] ?? process.env.PEERS ?? join(ROOT, "..", "peers"));
const repo = (name: string) => (existsSync(join(folder, name)) ? join(folder, name) : undefined);
const runpodPython = repo("runpod-python");
const runpodFlash = repo("runpod-flash") ?? repo("tetra-rp");
const workerTetra = repo("worker-tetra");
const python = process.env.FERRY_PYTHON ?? (existsSync(join(ROOT, ".ferry/python")) ? readFileSync(join(ROOT, ".ferry/python"), "utf8").trim() : "python3");
const pythonPath = [runpodPython, join(HERE, "shims"), runpodFlash && join(runpodFlash, "src")].filter(Boolean).join(":");
const CLIENT_KEY = "peers-client-key";

interface Row {
  peer: string;
  check: string;
  result: "pass" | "FAIL" | "not run";
  note: string;
}
const rows: Row[] = [];
function record(peer: string, check: string, ok: boolean | undefined, note = ""): void {
  const row: Row = { peer, check, result: ok === undefined ? "not run" : ok ? "pass" : "FAIL", note };
  rows.push(row);
  console.log(`${row.result.padEnd(7)} ${peer}: ${check}${note ? ` (${note})` : ""}`);
}

async function attempt(peer: string, check: string, body: () => Promise<string | void>): Promise<void> {
  try {
    record(peer, check, true, (await body()) ?? "");
  } catch (err) {
    record(peer, check, false, (err as Error).message.slice(0, 300).replace(/\n/g, " "));
  }
}

function must(condition: unknown, what: unknown): void {
  if (!condition) throw new Error(JSON.stringify(what).slice(0, 300));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(server: LocalServer, path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}

async function untilFinal(server: LocalServer, endpointId: string, jobId: string, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await call(server, `/v2/${endpointId}/status/${jobId}`);
    if (!["IN_QUEUE", "IN_PROGRESS"].includes(status.status) || Date.now() > deadline) return status;
    await sleep(200);
  }
}

function pythonJson(args: string[], env: Record<string, string>): Promise<Record<string, [boolean, unknown]>> {
  return execa(python, args, { env: { ...process.env, PYTHONPATH: pythonPath, ...env }, timeout: 180_000, reject: false }).then((r) => {
    const line = r.stdout.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`no result (exit ${r.exitCode}): ${r.stderr.slice(-300)}`);
    }
  });
}

const stateDirs: string[] = [];
const startServer = (options: Parameters<typeof startLocalServer>[0]) => {
  const stateDir = mkdtempSync(join(tmpdir(), "ferry-peers-"));
  stateDirs.push(stateDir);
  return startLocalServer({ stateDir, apiKey: CLIENT_KEY, persistEndpoints: false, pingIntervalMs: 1000, ...options });
};
const template = (env: Record<string, string> = {}) => ({ name: "peers", imageName: "local", env: Object.entries(env).map(([key, value]) => ({ key, value })) });

/** runpod-python's worker in its own process, given what RunPod gives a worker (issueWorker). */
async function externalWorker(server: LocalServer): Promise<void> {
  const peer = "runpod-python worker";
  const plain = server.saveEndpoint({ name: "py-external", template: template(), workersMax: 0 }).id;
  const generator = server.saveEndpoint({ name: "py-external-gen", template: template(), workersMax: 0 }).id;
  const children: ResultPromise[] = [];
  const start = (endpointId: string, extra: Record<string, string> = {}) => {
    const env = server.issueWorker(endpointId);
    // Its own process group: runpod-python's heartbeat runs in a child process that outlives a
    // SIGTERM of the worker, and goes with the group.
    children.push(execa(python, [join(HERE, "runpod_worker.py")], { env: { ...process.env, PYTHONPATH: pythonPath, ...env, ...extra }, reject: false, detached: true, stdio: "ignore" }));
    return env;
  };
  try {
    const worker = start(plain);
    start(generator, { PEER_HANDLER: "generator" });
    await attempt(peer, "takes with a literal $RUNPOD_POD_ID, completes under its pod id", async () => {
      const done = await call(server, `/v2/${plain}/runsync?wait=60000`, { input: { value: 1 } });
      must(done.status === "COMPLETED" && done.output?.pod === worker.RUNPOD_POD_ID && done.workerId === worker.RUNPOD_POD_ID, done);
      return `workerId ${done.workerId}`;
    });
    await attempt(peer, "handler error: FAILED with its error", async () => {
      const failed = await call(server, `/v2/${plain}/runsync?wait=60000`, { input: { fail: "no" } });
      must(failed.status === "FAILED" && String(failed.error).includes("ValueError"), failed);
    });
    await attempt(peer, "progress_update shows IN_PROGRESS output", async () => {
      const run = await call(server, `/v2/${plain}/run`, { input: { value: 2, progress: true, progress_hold_s: 2 } });
      let seen: unknown;
      for (let i = 0; i < 100 && seen === undefined; i++) {
        const status = await call(server, `/v2/${plain}/status/${run.id}`);
        if (status.status === "IN_PROGRESS" && status.output) seen = status.output;
        if (status.status === "COMPLETED") break;
        await sleep(50);
      }
      must(JSON.stringify(seen) === '{"halfway":true}', { seen });
      must((await untilFinal(server, plain, run.id, 30_000)).status === "COMPLETED", "final");
    });
    await attempt(peer, "generator: job-stream items, closed with isStream=true", async () => {
      const run = await call(server, `/v2/${generator}/run`, { input: { n: 3 } });
      const final = await untilFinal(server, generator, run.id, 60_000);
      must(final.status === "COMPLETED" && JSON.stringify(final.output) === '[{"i":0},{"i":1},{"i":2}]', final);
      return "aggregate output [{i:0},{i:1},{i:2}]";
    });
    await attempt(peer, "pings: counted ready in /health", async () => {
      const health = await call(server, `/v2/${plain}/health`);
      must(health.workers.ready >= 1, health);
    });
  } finally {
    for (const child of children) if (child.pid) process.kill(-child.pid, "SIGKILL");
    await Promise.all(children);
  }
}

/** runpod-python's worker as the worker command of the local server, and the clients against it. */
async function managedWorkerAndClients(): Promise<void> {
  const server = await startServer({ workerCommand: [python, join(HERE, "runpod_worker.py")], env: { ...process.env, PYTHONPATH: pythonPath } as Record<string, string> });
  try {
    const plain = server.saveEndpoint({ name: "py-managed", template: template(), workersMax: 2, idleTimeout: 60 }).id;
    const generator = server.saveEndpoint({ name: "py-managed-gen", template: template({ PEER_HANDLER: "generator" }), workersMax: 1, idleTimeout: 60 }).id;
    await attempt("runpod-python worker", "started by the local server as its worker command", async () => {
      const done = await call(server, `/v2/${plain}/runsync?wait=90000`, { input: { value: 5 } });
      must(done.status === "COMPLETED" && done.output?.echo === 5, done);
    });
    const env = { RUNPOD_API_KEY: CLIENT_KEY, RUNPOD_ENDPOINT_BASE_URL: server.endpointBaseUrl, RUNPOD_API_BASE_URL: server.url };
    const results = await pythonJson([join(HERE, "runpod_clients.py"), "endpoint", plain, generator], env).catch((err: Error) => ({ "endpoint clients": [false, err.message] as [boolean, unknown] }));
    for (const [check, [ok, detail]] of Object.entries(results)) record("runpod-python clients", `Endpoint ${check}`, ok, ok ? "" : String(detail));

    const endpoint = runpodSdk(CLIENT_KEY, { baseUrl: server.endpointBaseUrl }).endpoint(plain)!;
    const streaming = runpodSdk(CLIENT_KEY, { baseUrl: server.endpointBaseUrl }).endpoint(generator)!;
    const peer = `runpod-sdk ${JSON.parse(readFileSync(join(ROOT, "node_modules/runpod-sdk/package.json"), "utf8")).version} (npm)`;
    await attempt(peer, "runSync", async () => {
      const done = (await endpoint.runSync({ input: { value: 6 } }, 60_000)) as any;
      must(done.status === "COMPLETED" && done.output.echo === 6, done);
    });
    await attempt(peer, "run + status", async () => {
      const started = await endpoint.run({ input: { value: 7 } });
      const final = await untilFinal(server, plain, started.id, 60_000);
      const status = (await endpoint.status(started.id)) as any;
      must(final.status === "COMPLETED" && status.output.echo === 7, status);
    });
    await attempt(peer, "stream", async () => {
      const started = await streaming.run({ input: { n: 3 } });
      const items: unknown[] = [];
      for await (const chunk of streaming.stream(started.id, 60_000)) items.push((chunk as any).output);
      must(JSON.stringify(items) === '[{"i":0},{"i":1},{"i":2}]', items);
    });
    await attempt(peer, "health, cancel, purgeQueue", async () => {
      const health = (await endpoint.health()) as any;
      must(health.workers && health.jobs, health);
      const started = await endpoint.run({ input: { value: 8, sleep_s: 5 } });
      await sleep(500);
      await endpoint.cancel(started.id);
      must(((await endpoint.status(started.id)) as any).status === "CANCELLED", "cancel");
      must("removed" in ((await endpoint.purgeQueue()) as any), "purgeQueue");
    });
  } finally {
    await server.close();
  }
}

async function graphqlClients(server: LocalServer): Promise<void> {
  const env = { RUNPOD_API_KEY: CLIENT_KEY, RUNPOD_API_BASE_URL: server.url, RUNPOD_ENDPOINT_BASE_URL: server.endpointBaseUrl };
  const results = await pythonJson([join(HERE, "runpod_clients.py"), "graphql"], env).catch((err: Error) => ({ graphql: [false, err.message] as [boolean, unknown] }));
  for (const [check, [ok, detail]] of Object.entries(results)) record("runpod-python clients", `GraphQL ${check}`, ok, ok ? "" : String(detail));
  if (!runpodFlash) {
    record("runpod-flash", "GraphQL saveEndpoint / deleteEndpoint", undefined, "no checkout in the peers folder");
    return;
  }
  const flash = await pythonJson([join(HERE, "flash_graphql.py")], env).catch((err: Error) => ({ save_endpoint: [false, err.message] as [boolean, unknown] }));
  for (const [check, [ok, detail]] of Object.entries(flash)) record("runpod-flash", `RunpodGraphQLClient.${check}`, ok, ok ? "" : String(detail));
  record(
    "runpod-flash",
    "request path (its stub's FunctionRequest on a Ferry worker)",
    undefined,
    "runpod-flash's models need pydantic 2; Debian 12 packages 1.10 and the peers check takes Python packages from Debian only. worker-tetra's fixtures below carry the same FunctionRequest shape",
  );
}

/** worker-tetra's job fixtures, each run on real Ferry workers. */
async function workerTetraFixtures(server: LocalServer): Promise<void> {
  if (!workerTetra) {
    record("worker-tetra", "src/tests/test_*.json", undefined, "no checkout in the peers folder");
    return;
  }
  // Ferry's images ship the runpod package; here the endpoint's Python finds runpod-python's checkout.
  const endpointId = server.saveEndpoint({ name: "tetra", template: template({ PYTHONPATH: pythonPath }), workersMax: 1, idleTimeout: 120 }).id;
  const dir = join(workerTetra, "src", "tests");
  for (const file of readdirSync(dir).filter((f) => /^test_.*\.json$/.test(f)).sort()) {
    await attempt("worker-tetra", file, async () => {
      const body = JSON.parse(readFileSync(join(dir, file), "utf8"));
      const run = await call(server, `/v2/${endpointId}/run`, body);
      // Installs from the package index can take minutes (transformers, say).
      const final = await untilFinal(server, endpointId, run.id, 600_000);
      must(final.status === "COMPLETED" && final.output?.success === true, { status: final.status, error_type: final.output?.error_type, error: String(final.error ?? "").slice(0, 200) });
      // Many fixtures report their own checks in the value they return: {"success": false, ...}.
      if (typeof final.output.result !== "string") return "";
      const decoded = await execa(python, [join(HERE, "decode_result.py")], { input: final.output.result });
      const value = JSON.parse(decoded.stdout) as unknown;
      must(!(value && typeof value === "object" && (value as { success?: unknown }).success === false), value);
      return "";
    });
  }
}

async function main(): Promise<void> {
  console.log(`peers folder: ${folder}\nPython: ${python}`);
  if (!runpodPython) {
    record("runpod-python", "worker and clients", undefined, "no checkout in the peers folder");
  }
  const server = await startServer({});
  try {
    if (runpodPython) {
      await externalWorker(server);
      await managedWorkerAndClients();
      await graphqlClients(server);
    }
    await workerTetraFixtures(server);
  } finally {
    await server.close();
    for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
  }
  console.log("\n| peer | check | result | note |\n|---|---|---|---|");
  for (const row of rows) console.log(`| ${row.peer} | ${row.check} | ${row.result} | ${row.note.replace(/\|/g, "\\|")} |`);
  process.exitCode = rows.some((r) => r.result === "FAIL") ? 1 : 0;
}

await main();
