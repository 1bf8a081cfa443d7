// `ferry serve` SIGKILLed mid-run, with real workers (dist/handler.mjs) and their Python
// children: no worker outlives it (each watches a pipe only the server holds), so a server
// restarted on the same port sees only its own workers. Jobs live in the server's memory:
// one accepted before the kill is lost with it (404 after the restart), as docs/reliability.md
// states; the caller's SDK sees the job vanish and fails the call.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readLocalServerRecord } from "../../sdk/local-server/serve-command.ts";
import { DEFAULT_WORKER_SCRIPT } from "../../sdk/local-server/server.ts";
import { REPO_ROOT, waitUntil } from "../local-server/helpers.ts";

const SERVE_MAIN = join(REPO_ROOT, "tests", "local-server", "fixtures", "serve-main.ts");
const ENDPOINT_ID = "deathendpoint0";
const started: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return false;
  }
}

/** Pids whose parent is `ppid` and whose command line holds `word`, from /proc. */
function childrenOf(ppid: number, word: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ");
      if (Number(fields[1]) === ppid && readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(word)) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function serve(stateDir: string, port: number): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", SERVE_MAIN], {
    cwd: REPO_ROOT,
    env: { ...process.env, TEST_STATE_DIR: stateDir, TEST_PORT: String(port), TEST_WORKER_COMMAND: JSON.stringify([process.execPath, DEFAULT_WORKER_SCRIPT]) },
    stdio: ["ignore", "ignore", "ignore"],
  });
  started.push(child);
  return child;
}

async function health(url: string): Promise<{ workers: { ready: number; initializing: number; running: number }; jobs: Record<string, number> }> {
  return (await fetch(`${url}/v2/${ENDPOINT_ID}/health`)).json() as never;
}

describe("a SIGKILLed local server", () => {
  it("leaves no worker or Python child behind; the restarted server on the same port has only its own workers", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ferry-death-"));
    dirs.push(stateDir);
    const endpoint = {
      id: ENDPOINT_ID, name: "death", templateId: "t", gpuIds: "AMPERE_16", gpuCount: 1, workersMin: 1, workersMax: 1, idleTimeout: 60,
      scalerType: "QUEUE_DELAY", scalerValue: 4, executionTimeoutMs: 600000, networkVolumeId: null, locations: null, allowedCudaVersions: null,
      instanceIds: [], type: "QB", flashBootType: "FLASHBOOT", version: 0, createdAt: "",
      template: { id: "t", name: "t", imageName: "ferry/worker:local", containerDiskInGb: 5, env: [], dockerArgs: "", ports: null, startScript: null },
    };
    writeFileSync(join(stateDir, "local-endpoints.json"), JSON.stringify({ version: 1, endpoints: [endpoint] }));

    const first = serve(stateDir, 0);
    const record = await waitUntil(() => readLocalServerRecord(stateDir), 60_000, "the server's record");
    await waitUntil(async () => (await health(record.url)).workers.ready >= 1, 60_000, "a ready worker");
    const [worker] = childrenOf(first.pid!, "handler.mjs");
    expect(worker).toBeDefined();
    const python = await waitUntil(() => childrenOf(worker!, "runner.py")[0], 10_000, "the worker's Python child");
    const accepted = (await (await fetch(`${record.url}/v2/${ENDPOINT_ID}/run`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ input: { function_name: "f", function_code: "import time\ndef f():\n    time.sleep(30)", serialization_format: "json" } }),
    })).json()) as { id: string };
    await waitUntil(async () => (await health(record.url)).jobs.inProgress === 1, 20_000, "the job to run");

    const killedAt = performance.now();
    first.kill("SIGKILL");
    await waitUntil(() => !alive(worker!) && !alive(python), 10_000, "the worker and its Python child to exit");
    const recoverMs = performance.now() - killedAt;
    console.log(`server death: worker and Python child gone ${Math.round(recoverMs)} ms after the server's SIGKILL`);

    const second = serve(stateDir, record.port);
    await waitUntil(async () => {
      const r = readLocalServerRecord(stateDir);
      return r && r.pid === second.pid ? r : undefined;
    }, 60_000, "the restarted server");
    await waitUntil(async () => (await health(record.url)).workers.ready >= 1, 60_000, "the restarted server's worker");
    const view = await health(record.url);
    expect(view.workers.ready + view.workers.initializing + view.workers.running).toBe(1);
    // The job accepted before the kill lived in the dead server's memory: it is lost, and says so by 404.
    expect((await fetch(`${record.url}/v2/${ENDPOINT_ID}/status/${accepted.id}`)).status).toBe(404);
  }, 240_000);
});
