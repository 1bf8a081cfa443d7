// The heartbeat keeps pinging while the worker's event loop is blocked (a handler doing
// synchronous work, a 100 MB job document being parsed): it runs on a thread of its own.
// Before, a blocked loop sent no ping at all, and a server could declare the worker lost.
// The worker runs as its own process, so that this process's job server sees pings as they come.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeRunpodJobServer, type FakeRunpodJobServer } from "../helpers/fake-runpod-job-server.ts";
import { REPO_ROOT, waitUntil } from "../local-server/helpers.ts";

let server: FakeRunpodJobServer;
let worker: ChildProcess | undefined;

beforeEach(async () => {
  server = await startFakeRunpodJobServer({ holdMs: 300 });
});
afterEach(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((resolve) => worker!.once("exit", resolve));
    worker.kill("SIGTERM");
    await exited;
  }
  await server.close();
});

describe("heartbeat", () => {
  it("pings every interval, with the job's id, while the worker's event loop is blocked for 3 s", async () => {
    let out = "";
    worker = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "tests", "reliability", "fixtures", "blocking-worker.ts")], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...server.env({ RUNPOD_PING_INTERVAL: "200" }), BLOCK_MS: "3000" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    worker.stdout!.on("data", (chunk) => (out += chunk));
    server.enqueue({ id: "blocking-1", input: {} });
    expect((await server.waitForResult("blocking-1", 60_000)).body).toEqual({ output: { ok: true } });
    const [, started, finished] = (await waitUntil(() => /BLOCK (\d+) (\d+)/.exec(out), 5_000, "the block's times")).map(Number);
    const during = server.requestsOf("ping").filter((p) => p.at > started! + 100 && p.at < finished!);
    // 3 s at 200 ms is about 15 pings; the old heartbeat, on the blocked loop, sent none (at most
    // one sent just before could land here). A loaded machine starves the thread too, so the
    // bound is low: what counts is that pings go on at all.
    expect(during.length).toBeGreaterThanOrEqual(2);
    // Every ping carries the job's id, but the first: it may have left just before the job came.
    const afterFirst = during.slice(1);
    expect(afterFirst.map((p) => [p.query.get("job_id"), p.headers.authorization === server.apiKey])).toEqual(afterFirst.map(() => ["blocking-1", true]));
    expect(server.violations).toEqual([]);
  }, 90_000);
});
