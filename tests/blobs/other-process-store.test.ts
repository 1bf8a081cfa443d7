/**
 * A local server in another process (`ferry serve`, FERRY_LOCAL_URL) is reached over HTTP: the
 * caller POSTs its inputs and GETs its results from the server's blob routes, as before, and
 * never takes the in-process path.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { InProcessBlobStore } from "../../sdk/blobs/in-process-blob-store.ts";
import { LocalBlobStore } from "../../sdk/blobs/local-blob-store.ts";
import { configure, LiveServerless, remote, type NdArray } from "../../sdk/index.ts";
import { inProcessServer } from "../../sdk/local-server/in-process-servers.ts";
import { readLocalServerRecord, type LocalServerRecord } from "../../sdk/local-server/serve-command.ts";
import { getRuntime } from "../../sdk/runtime.ts";
import { WORKER_BUNDLE } from "../../sdk/package-root.ts";
import { REPO_ROOT, waitUntil } from "../local-server/helpers.ts";

const MiB = 1024 * 1024;
let stateDir: string;
let child: ChildProcess;
let record: LocalServerRecord;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "ferry-other-process-blobs-"));
  child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "tests", "local-server", "fixtures", "serve-main.ts")], {
    cwd: REPO_ROOT,
    env: { ...process.env, TEST_STATE_DIR: stateDir, TEST_WORKER_COMMAND: JSON.stringify([process.execPath, WORKER_BUNDLE]) },
    stdio: "ignore",
  });
  record = await waitUntil(() => readLocalServerRecord(stateDir), 30_000, "the served server's local.json");
  await configure({ localUrl: record.url, stateDir, quiet: true, onLog: false, onProgress: false });
}, 120_000);

afterAll(async () => {
  await getRuntime().close();
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
  rmSync(stateDir, { recursive: true, force: true });
});

it("an 8 MB Float32Array round trip goes through the server's blob routes over HTTP", async () => {
  expect(inProcessServer(record.endpointBaseUrl)).toBeUndefined();
  const py = remote(new LiveServerless({ name: "other-process-blobs", workersMax: 1 }));
  const echo = py.function<[x: Float32Array], NdArray<Float32Array>>("def echo(x):\n    return x", "echo");
  const httpPut = vi.spyOn(LocalBlobStore.prototype, "putInput");
  const httpRead = vi.spyOn(LocalBlobStore.prototype, "read");
  const directPut = vi.spyOn(InProcessBlobStore.prototype, "putInput");
  const count = (8 * MiB) / 4;
  const x = new Float32Array(count);
  for (let i = 0; i < count; i++) x[i] = (i % 4099) - 0.25;
  const y = await echo(x);
  expect(y.length).toBe(count);
  expect(Buffer.compare(Buffer.from(y.buffer, y.byteOffset, y.byteLength), Buffer.from(x.buffer))).toBe(0);
  expect(httpPut).toHaveBeenCalledTimes(1);
  expect(httpRead).toHaveBeenCalledTimes(1);
  expect(directPut).not.toHaveBeenCalled();
}, 180_000);
