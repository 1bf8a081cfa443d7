/**
 * The local server the SDK-level groups measure against: real Ferry workers (dist/handler.mjs)
 * on the runner's Python, endpoints kept in memory, a state folder of the group's own. The
 * group's cleanups stop the server and delete the folder.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LocalServer } from "../../../sdk/local-server/server.ts";
import { HANDLER_BUNDLE, PYTHON, REPO_ROOT } from "./engine-jobs.ts";
import type { GroupContext } from "./figures.ts";

export interface BenchServer {
  server: LocalServer;
  stateDir: string;
}

/** Starts the server; `prefix` names its state folder under the temp dir (`ferry-bench-<what>-`). */
export async function startBenchServer(ctx: GroupContext, prefix: string): Promise<BenchServer> {
  if (!existsSync(HANDLER_BUNDLE)) throw new Error("dist/handler.mjs is missing (run `make build`)");
  const { startLocalServer } = await import("../../../sdk/local-server/server.ts");
  const stateDir = mkdtempSync(join(tmpdir(), prefix));
  ctx.cleanup(() => rmSync(stateDir, { recursive: true, force: true }));
  const server = await startLocalServer({
    stateDir,
    cwd: REPO_ROOT,
    workerCommand: [process.execPath, HANDLER_BUNDLE],
    persistEndpoints: false,
    env: { ...process.env, FERRY_PYTHON: PYTHON, RUNPOD_LOG_LEVEL: "WARN" },
    workerStopGraceMs: 3_000,
  });
  ctx.cleanup(() => server.close());
  return { server, stateDir };
}
