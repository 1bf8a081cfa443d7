/**
 * A result the worker cannot deliver (too large for the job API, and no blob store to put it
 * in) ends the job FAILED with the reason: it never stays IN_PROGRESS. Real local server, real
 * built worker, real Python child.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { configure, LiveServerless, remote, RemoteError } from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { JOB_DONE_LIMIT_BYTES } from "../../sdk/local-server/worker-api.ts";
import { getRuntime } from "../../sdk/runtime.ts";

let server: LocalServer;
let stateDir: string;

const PY = `
def big(n):
    return b"\\0" * n

def small():
    return "ok"
`;

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "ferry-undeliverable-"));
  server = await startLocalServer({ stateDir, persistEndpoints: false });
  // No blob store: every value goes inline, as from a caller that gives the worker no places.
  await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, blobStore: false });
}, 120_000);

afterAll(async () => {
  await getRuntime().close();
  await server?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

it("a result over the job-done cap ends the job FAILED with the reason, and nothing stays in progress", async () => {
  const py = remote(new LiveServerless({ name: "undeliverable", workersMax: 1 }));
  const big = py.function<[n: number], Uint8Array>(PY, "big");
  const small = py.function<[], string>(PY, "small");
  expect(await small()).toBe("ok");

  const error = await big(JOB_DONE_LIMIT_BYTES).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(RemoteError);
  expect((error as RemoteError).errorType).toBe("ResultDeliveryError");
  // The server answers 413 as soon as it sees the length; a loaded machine may instead see the
  // connection closed under the rest of the body. Either way the reason is given.
  expect((error as Error).message).toMatch(/the job finished but its result \(\d+ bytes as JSON\) could not be delivered: (HTTP 413|.+)/);

  const endpointId = server.endpoints()[0]!.id;
  expect(server.health(endpointId).jobs).toMatchObject({ inProgress: 0, failed: 1 });
  // The worker goes on serving.
  expect(await small()).toBe("ok");
}, 180_000);
