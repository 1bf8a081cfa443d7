/**
 * remote() on the local default for one test file: a local server in a temporary state folder,
 * the SDK configured against it, and both closed (and the folder removed) after the file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { configure } from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { getRuntime } from "../../sdk/runtime.ts";

export function useLocalSdk(prefix: string): { server: () => LocalServer } {
  let server: LocalServer | undefined;
  let stateDir: string | undefined;
  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), prefix));
    server = await startLocalServer({ stateDir, persistEndpoints: false });
    await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false });
  }, 120_000);
  afterAll(async () => {
    await getRuntime().close();
    await server?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });
  return {
    server: () => {
      if (!server) throw new Error("the local server is not started yet");
      return server;
    },
  };
}
