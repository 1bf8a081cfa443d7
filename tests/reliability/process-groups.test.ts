// Processes user code starts: `sleep 60 &` holding the child's pipes, a daemon that never
// exits. The Python child leads its own process group, a kill takes the whole group, and the
// engine decides the child is dead from its exit, not from its pipes closing. Before, a job
// that left `sleep 60 &` behind answered its timeout after about 40 s and the next job failed.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { fn, HEALTHY, newEngine, newHandler, runJob } from "../helpers/engine.ts";
import { waitUntil } from "../local-server/helpers.ts";

let engine: PythonEngine;
let handler: JobHandler;
let dir: string;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2]!.startsWith("Z");
  } catch {
    return false;
  }
}

/** Python that starts `sleep 60 &` through a shell (it inherits every fd, the protocol pipes included) and writes its pid. */
const leaveSleep = (pidFile: string) => `import os\n    os.system("sleep 60 & echo $! > ${pidFile}")`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-groups-"));
  engine = newEngine({ cancelGraceMs: 500 });
  await engine.start();
  handler = newHandler(engine);
});
afterAll(async () => {
  await engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("processes user code leaves behind", () => {
  it("a timed-out call that left `sleep 60 &` answers soon after its grace, the sleep dies with the child, and the next job runs", async () => {
    const pidFile = join(dir, "timeout.pid");
    const started = performance.now();
    const { response } = await runJob(handler, fn(`def f():\n    ${leaveSleep(pidFile)}\n    import time\n    while True:\n        try:\n            time.sleep(30)\n        except BaseException:\n            pass`, "f", [], { timeout_ms: 1000 }));
    const elapsed = performance.now() - started;
    expect(response).toMatchObject({ success: false, error_type: "Timeout" });
    // It took 40 s before (the sleep held the pipes); the grace is 0.5 s.
    expect(elapsed).toBeLessThan(15_000);
    const sleeper = Number(readFileSync(pidFile, "utf8"));
    await waitUntil(() => !alive(sleeper), 5_000, "the sleep to be killed with the child's group");
    const healthyStarted = performance.now();
    const healthy = await runJob(handler, HEALTHY);
    expect(healthy.response).toMatchObject({ success: true, json_result: 42 });
    expect(performance.now() - healthyStarted).toBeLessThan(15_000);
  }, 60_000);

  it("a daemon left by a successful call goes with the child's group when the worker stops it", async () => {
    const own = newEngine();
    const ownHandler = newHandler(own);
    const pidFile = join(dir, "daemon.pid");
    const { response } = await runJob(ownHandler, fn(`def f():\n    ${leaveSleep(pidFile)}\n    return 1`));
    expect(response).toMatchObject({ success: true, json_result: 1 });
    const daemon = Number(readFileSync(pidFile, "utf8"));
    expect(alive(daemon)).toBe(true);
    const stopStarted = performance.now();
    await own.stop();
    expect(performance.now() - stopStarted).toBeLessThan(5_000);
    await waitUntil(() => !alive(daemon), 5_000, "the daemon to die with its group");
  }, 30_000);
});
