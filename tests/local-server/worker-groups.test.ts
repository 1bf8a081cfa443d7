/**
 * Each worker leads a process group holding what it started (the real worker's Python child;
 * here a `sleep 60`): whichever way the server ends a worker, the child goes with it. Workers are
 * tests/local-server/fixtures/group-worker.ts, which ignores SIGTERM so the SIGKILL path runs.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { WorkerOutputLine } from "../../sdk/local-server/workers.ts";
import { REPO_ROOT, endpointInput, processGone, startTestServer, waitUntil, type TestServer } from "./helpers.ts";

const here = dirname(fileURLToPath(import.meta.url));
const GROUP_WORKER = [process.execPath, "--import", "tsx", join(here, "fixtures", "group-worker.ts")];

let t: TestServer | undefined;
const leftovers: number[] = [];
afterEach(async () => {
  await t?.close();
  t = undefined;
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone, as it should be.
    }
  }
});

interface Pids {
  child: number;
  worker: number;
}

function pidsFrom(lines: WorkerOutputLine[], index = 0): Pids | undefined {
  const found = lines.map((l) => /^CHILD (\d+) WORKER (\d+)$/.exec(l.line)).filter((m) => m !== null)[index];
  if (!found) return undefined;
  const pids = { child: Number(found[1]), worker: Number(found[2]) };
  if (!leftovers.includes(pids.child)) leftovers.push(pids.child);
  return pids;
}

const bothGone = (pids: Pids) => processGone(pids.child) && processGone(pids.worker);

describe("worker process groups", () => {
  it("deleting the endpoint kills a worker that ignores SIGTERM after the grace period, and its child", async () => {
    const lines: WorkerOutputLine[] = [];
    t = await startTestServer({ workerCommand: GROUP_WORKER, workerStopGraceMs: 300, onWorkerOutput: (l) => lines.push(l) });
    const id = t.server.saveEndpoint(endpointInput({ workersMin: 1, workersMax: 1 })).id;
    const pids = await waitUntil(() => pidsFrom(lines), 15_000, "the worker and its child");
    expect(processGone(pids.child)).toBe(false);
    await t.gql(`mutation { deleteEndpoint(id: "${id}") }`);
    await waitUntil(() => lines.some((l) => l.line === "SIGTERM ignored"), 5000, "the SIGTERM to reach the worker");
    await waitUntil(() => bothGone(pids), 5000, "the worker and its child to be gone");
    // The pid is reaped before the exit event reaches the server's bookkeeping: wait for that too.
    const server = t.server;
    await waitUntil(() => server.workers(id)[0]?.state === "exited", 5000, "the server to record the exit");
    expect(t.server.workers(id)[0]).toMatchObject({ state: "exited", signal: "SIGKILL" });
  });

  it("closing the server kills the workers' groups after the grace period", async () => {
    const lines: WorkerOutputLine[] = [];
    t = await startTestServer({ workerCommand: GROUP_WORKER, workerStopGraceMs: 200, onWorkerOutput: (l) => lines.push(l) });
    t.server.saveEndpoint(endpointInput({ workersMin: 2, workersMax: 2 }));
    const first = await waitUntil(() => pidsFrom(lines, 0), 15_000, "the first worker");
    const second = await waitUntil(() => pidsFrom(lines, 1), 15_000, "the second worker");
    await t.close();
    t = undefined;
    // close() resolves once the workers exited; their children go with the same kill.
    await waitUntil(() => bothGone(first) && bothGone(second), 2000, "the children to be gone");
  });

  it("a worker that exits on its own takes what it left in its group with it", async () => {
    const lines: WorkerOutputLine[] = [];
    t = await startTestServer({ workerCommand: GROUP_WORKER, env: { ...process.env, GROUP_WORKER_MODE: "crash" }, onWorkerOutput: (l) => lines.push(l) });
    const id = t.server.saveEndpoint(endpointInput({ workersMin: 1, workersMax: 1 })).id;
    const pids = await waitUntil(() => pidsFrom(lines), 15_000, "the worker and its child");
    await waitUntil(() => t!.server.workers(id).some((w) => w.exitCode === 3), 5000, "the worker to exit");
    await waitUntil(() => bothGone(pids), 5000, "its child to be gone");
  });

  it("a worker declared lost gets SIGTERM, is refused new jobs during its grace period, then is killed with its child", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ferry-groups-"));
    const lines: WorkerOutputLine[] = [];
    try {
      t = await startTestServer({
        workerCommand: GROUP_WORKER,
        env: { ...process.env, GROUP_WORKER_MODE: "take", GROUP_WORKER_TAKE_FILE: join(stateDir, "taken") },
        pingIntervalMs: 200,
        pingTimeoutMs: 600,
        longPollMs: 300,
        workerStopGraceMs: 1500,
        onWorkerOutput: (l) => lines.push(l),
      });
      const id = t.server.saveEndpoint(endpointInput({ workersMin: 0, workersMax: 1 })).id;
      const job = (await t.call(`/v2/${id}/run`, { body: { input: { value: 1 } } })).body.id as string;
      const pids = await waitUntil(() => pidsFrom(lines), 15_000, "the worker and its child");
      await waitUntil(() => lines.some((l) => l.line.startsWith("TOOK 200")), 10_000, "the worker to take the job");
      // The job goes back to the queue when the worker is declared lost; the stopping worker
      // must not get it back, it is told there is no job.
      const again = await waitUntil(() => lines.find((l) => l.line.startsWith("TAKE_AFTER_TERM")), 10_000, "the job-take after SIGTERM");
      expect(again.line).toBe("TAKE_AFTER_TERM 204");
      expect(processGone(pids.child)).toBe(false); // still within its grace period
      await waitUntil(() => bothGone(pids), 5000, "the lost worker and its child to be gone");
      const status = (await t.call(`/v2/${id}/status/${job}`)).body;
      expect(status.status).toBe("IN_QUEUE");
      expect((await t.call(`/v2/${id}/health`)).body.jobs).toMatchObject({ retried: 1 });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe("the SDK's in-process (unref'd) server", () => {
  async function runEmbedded(end: "exit" | "signal") {
    const stateDir = mkdtempSync(join(tmpdir(), "ferry-embedded-"));
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "fixtures", "embedded-main.ts")], {
      cwd: REPO_ROOT,
      env: { ...process.env, TEST_STATE_DIR: stateDir, TEST_WORKER_COMMAND: JSON.stringify(GROUP_WORKER), EMBEDDED_END: end },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    const cleanup = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      rmSync(stateDir, { recursive: true, force: true });
    };
    try {
      const match = await waitUntil(() => /PIDS (\d+) (\d+)/.exec(out), 20_000, "the embedded server's worker");
      const pids = { child: Number(match[1]), worker: Number(match[2]) };
      leftovers.push(pids.child, pids.worker);
      return { child, pids, exited, output: () => out, cleanup };
    } catch (err) {
      cleanup();
      throw new Error(`${(err as Error).message}; output:\n${out}`);
    }
  }

  it("when the process ends by itself, its workers and their children go too", async () => {
    const run = await runEmbedded("exit");
    try {
      const result = await Promise.race([run.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
      expect(result, run.output()).toEqual({ code: 0, signal: null });
      await waitUntil(() => bothGone(run.pids), 5000, "the worker and its child to be gone");
    } finally {
      run.cleanup();
    }
  });

  it("when the process dies of a signal it does not handle (Ctrl-C), its workers and their children go too", async () => {
    const run = await runEmbedded("signal");
    try {
      run.child.kill("SIGINT");
      const result = await Promise.race([run.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
      expect(result, run.output()).toEqual({ code: null, signal: "SIGINT" });
      await waitUntil(() => bothGone(run.pids), 5000, "the worker and its child to be gone");
    } finally {
      run.cleanup();
    }
  });
});
