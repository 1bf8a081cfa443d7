/** `ferry serve`: banner, `.ferry/local.json`, a second server refused, Ctrl-C stops workers and exits. */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { formatWorkerLine, localRecordPath, readLocalServerRecord, runServe } from "../../sdk/local-server/serve-command.ts";
import type { LocalServer } from "../../sdk/local-server/server.ts";
import { PROTOCOL_WORKER, REPO_ROOT, SAVE_ENDPOINT, endpointInput, waitUntil } from "./helpers.ts";

const here = dirname(fileURLToPath(import.meta.url));

describe("runServe", () => {
  it("prints what to set, records itself in local.json, refuses a second server, and cleans up on stop", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ferry-serve-"));
    let output = "";
    const controller = new AbortController();
    let server: LocalServer | undefined;
    const serving = runServe({
      port: 0,
      stateDir,
      workerCommand: PROTOCOL_WORKER,
      signal: controller.signal,
      handleSignals: false,
      logger: silentLogger(),
      write: (text) => (output += text),
      onReady: (s) => (server = s),
    });
    try {
      await waitUntil(() => server, 10_000, "the server");
      const record = readLocalServerRecord(stateDir);
      expect(record).toMatchObject({ url: server!.url, endpointBaseUrl: `${server!.url}/v2`, graphqlUrl: `${server!.url}/graphql`, pid: process.pid, authRequired: false });
      expect(output).toContain(`export RUNPOD_API_BASE_URL=${server!.url}`);
      expect(output).toContain(`export RUNPOD_ENDPOINT_BASE_URL=${server!.url}/v2`);
      expect(output).toContain("queued jobs do not survive a restart");
    } finally {
      controller.abort();
      await serving;
    }
    expect(existsSync(localRecordPath(stateDir))).toBe(false);
    expect(output).toContain("stopped");
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("refuses to start when local.json names a live server", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ferry-serve-"));
    try {
      const url = "http://127.0.0.1:1";
      const record = { url, endpointBaseUrl: `${url}/v2`, graphqlUrl: `${url}/graphql`, pid: process.ppid, port: 1, host: "127.0.0.1", stateDir, authRequired: false, startedAt: new Date().toISOString(), version: "0.1.0" };
      writeFileSync(localRecordPath(stateDir), JSON.stringify(record));
      await expect(runServe({ port: 0, stateDir, handleSignals: false, logger: silentLogger(), write: () => {} })).rejects.toThrow(/already running at http:\/\/127\.0\.0\.1:1/);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it("formats worker JSON log lines with endpoint and worker names", () => {
    const base = { endpointId: "abc", endpointName: "demo", worker: "worker-2", podId: "p", stream: "stderr" as const };
    expect(formatWorkerLine({ ...base, line: '{"level":30,"msg":"job started","jobId":"j1"}' })).toBe("[demo/worker-2] INFO job started (job j1)");
    expect(formatWorkerLine({ ...base, line: "plain text" })).toBe("[demo/worker-2] plain text");
  });

  it("Ctrl-C (SIGINT) stops the workers and the process exits by itself", { timeout: 60_000 }, async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ferry-serve-"));
    // Its own process group, sent SIGINT as a whole, as a terminal's Ctrl-C does to the
    // foreground job: the workers lead groups of their own, so only `ferry serve` gets it.
    const child = spawn(process.execPath, ["--import", "tsx", join(here, "fixtures", "serve-main.ts")], {
      cwd: REPO_ROOT,
      env: { ...process.env, TEST_STATE_DIR: stateDir, TEST_WORKER_COMMAND: JSON.stringify(PROTOCOL_WORKER) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const record = await waitUntil(() => readLocalServerRecord(stateDir), 20_000, "local.json");
      expect(record.pid).toBe(child.pid);
      const res = await fetch(record.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: SAVE_ENDPOINT, variables: { input: endpointInput({ name: "served", workersMin: 1, workersMax: 1 }) } }),
      });
      const endpointId = ((await res.json()) as any).data.saveEndpoint.id as string;
      await waitUntil(async () => ((await (await fetch(`${record.endpointBaseUrl}/${endpointId}/health`)).json()) as any).workers.idle === 1, 20_000, "a worker");
      expect(out).toMatch(/\[served\/worker-1\] --- Starting Serverless Worker/);
      const workerPid = Number(/Version test --- \S+ pid (\d+)/.exec(out)![1]);
      process.kill(-child.pid!, "SIGINT");
      expect(await exited).toBe(0);
      expect(out).toContain("interrupted: stopping workers");
      expect(existsSync(localRecordPath(stateDir))).toBe(false);
      expect(() => process.kill(workerPid, 0)).toThrow(); // the worker is gone too
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
