// SIGTERM to a real worker process while a job runs: no new jobs are taken, the running job
// finishes and its result is posted, onShutdown runs, and the process exits 0. A second
// signal aborts the running job's signal (hard stop) with the reason "WorkerShutdown", in the
// job loop and in the local API alike; in the loop, its result is still posted.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { afterEach, beforeEach, expect, it } from "vitest";
import { startFakeRunpodJobServer, type FakeRunpodJobServer } from "../helpers/fake-runpod-job-server.ts";

let server: FakeRunpodJobServer;
let child: ChildProcessWithoutNullStreams | undefined;
beforeEach(async () => {
  server = await startFakeRunpodJobServer({ holdMs: 300 });
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  child = undefined;
  await server.close();
});

function spawnWorker(args: string[] = []) {
  // Node itself with tsx's loader: the tsx command would be a parent process of its own that
  // relays signals, and a second signal can reach it while it is still relaying the first.
  const proc = spawn(process.execPath, ["--import", "tsx", "tests/worker/fixtures/sigterm-worker.ts", ...args], {
    env: { ...process.env, ...server.env({ RUNPOD_PING_INTERVAL: "200", RUNPOD_LOG_LEVEL: "info" }) },
  });
  child = proc;
  let stdout = "";
  let stderr = "";
  const watchers: Array<{ text: string; stream: "stdout" | "stderr"; resolve: () => void }> = [];
  const check = () => {
    for (const w of [...watchers]) {
      if ((w.stream === "stdout" ? stdout : stderr).includes(w.text)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  proc.stdout.on("data", (d: Buffer) => ((stdout += d.toString()), check()));
  proc.stderr.on("data", (d: Buffer) => ((stderr += d.toString()), check()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => proc.on("exit", (code) => resolve({ code, at: Date.now() })));
  const seen = (text: string, stream: "stdout" | "stderr" = "stdout") =>
    new Promise<void>((resolve) => {
      watchers.push({ text, stream, resolve });
      check();
    });
  return { proc, exited, seen, output: () => ({ stdout, stderr }) };
}

it("SIGTERM during a job still posts its result before the process exits 0", async () => {
  const worker = spawnWorker();
  server.enqueue({ id: "sig-1", input: { mode: "work" } });
  await worker.seen("STARTED sig-1");
  const signalledAt = Date.now();
  worker.proc.kill("SIGTERM");
  // Queued after the signal: a stopping worker must not take it.
  server.enqueue({ id: "sig-2", input: { mode: "work" } });
  const { code, at: exitedAt } = await worker.exited;

  expect(code, worker.output().stderr).toBe(0);
  expect(server.results.get("sig-1")?.body).toEqual({ output: { finished: "sig-1", aborted: false } });
  const post = server.requests.find((r) => r.kind === "done" && r.jobId === "sig-1")!;
  expect(post.at).toBeGreaterThanOrEqual(signalledAt);
  expect(post.at).toBeLessThanOrEqual(exitedAt);
  expect(worker.output().stdout).toContain("ON_SHUTDOWN\nEXIT 0\n");
  expect(server.outstanding.has("sig-2")).toBe(false);
  expect(server.requests.some((r) => r.jobId === "sig-2")).toBe(false);
  expect(server.violations).toEqual([]);
}, 20_000);

it("a second signal aborts the running job's signal; what the job returns is still posted", async () => {
  const worker = spawnWorker();
  server.enqueue({ id: "hard-1", input: { mode: "until-aborted" } });
  await worker.seen("STARTED hard-1");
  worker.proc.kill("SIGTERM");
  await worker.seen("shutting down: no new jobs", "stderr");
  worker.proc.kill("SIGTERM");
  const { code } = await worker.exited;
  expect(code, worker.output().stderr).toBe(0);
  expect(server.results.get("hard-1")?.body).toEqual({ output: { aborted: true, reason: "WorkerShutdown" } });
  expect(worker.output().stdout).toContain("ON_SHUTDOWN\nEXIT 0\n");
  expect(server.violations).toEqual([]);
}, 20_000);

it("local API: a second signal aborts the running job with the reason WorkerShutdown", async () => {
  const worker = spawnWorker(["--rp_serve_api", "--rp_api_port", "0"]);
  await worker.seen("LISTENING ");
  const port = /LISTENING (\d+)/.exec(worker.output().stdout)![1];
  const run = await fetch(`http://127.0.0.1:${port}/run`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ input: { mode: "until-aborted" } }),
  });
  const { id } = (await run.json()) as { id: string };
  await worker.seen(`STARTED ${id}`);
  worker.proc.kill("SIGTERM");
  await worker.seen("shutting down: no new jobs", "stderr");
  worker.proc.kill("SIGTERM");
  const { code } = await worker.exited;
  expect(code, worker.output().stderr).toBe(0);
  expect(worker.output().stdout).toContain(`ABORTED ${id} WorkerShutdown\n`);
  expect(worker.output().stdout).toContain("ON_SHUTDOWN\nEXIT 0\n");
}, 20_000);
