/**
 * A first run that fails fast: when the local default's worker cannot start (no bundle, a Python
 * without msgpack), the waiting call fails within seconds with a WorkerStartError that names the
 * cause and the fix, and once the cause is fixed the next call in the same process works, with
 * nothing under `.ferry` deleted by hand. Real worker processes, real Python.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { configure, CpuLiveServerless, remote, WorkerStartError } from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";

const DIST = resolve("dist");
const ADD = "def add(a, b):\n    return a + b\n";
// The goal is 10 s (measured: about 2 s from an installed package); the bound leaves room for a
// loaded machine and is still far from the minutes a call waited before the fix.
const FAILS_WITHIN_MS = 20_000;
let dir: string;
let server: LocalServer | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-worker-start-"));
  if (!existsSync(join(DIST, "handler.mjs"))) execFileSync(process.execPath, ["images/build.mjs", "--quiet"], { stdio: "inherit" });
});
afterEach(async () => {
  await configure({ quiet: true });
  await server?.close();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failureOf(call: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - started };
}

/** `python3` on PATH when it lacks msgpack (this project's machines: a pyenv Python without it). */
function pythonWithoutMsgpack(): string | undefined {
  try {
    const python = execFileSync("sh", ["-c", "command -v python3"], { encoding: "utf8" }).trim();
    execFileSync(python, ["-c", "import msgpack"], { stdio: "ignore" });
    return undefined;
  } catch (err) {
    const status = (err as { status?: number }).status;
    return status === 1 ? execFileSync("sh", ["-c", "command -v python3"], { encoding: "utf8" }).trim() : undefined;
  }
}

describe("a worker that cannot start", () => {
  it("no worker bundle: the call fails within seconds naming the missing bundle; with the bundle in place the next call works", async () => {
    const install = join(dir, "package");
    const bundle = join(install, "handler.mjs");
    server = await startLocalServer({ stateDir: join(dir, "state-bundle"), persistEndpoints: false, workerCommand: [process.execPath, bundle] });
    await configure({ localUrl: server.url, stateDir: join(dir, "state-bundle"), quiet: true, onLog: false });
    const add = remote(new CpuLiveServerless({ name: "no-bundle" })).function<[a: number, b: number], number>(ADD, "add");

    const { error, ms } = await failureOf(add(1, 2));
    expect(error).toBeInstanceOf(WorkerStartError);
    const startError = error as WorkerStartError;
    expect(startError.message).toContain(`the worker bundle ${bundle} is missing`);
    expect(startError.fix).toContain("npm run build");
    expect(startError.workerOutput.join("\n")).toContain("Cannot find module");
    expect(ms).toBeLessThan(FAILS_WITHIN_MS);

    // The fix: the bundle appears where the server looks for it.
    cpSync(join(DIST, "handler.mjs"), bundle);
    cpSync(join(DIST, "python"), join(install, "python"), { recursive: true });
    expect(await add(1, 2)).toBe(3);
  }, 120_000);

  const noMsgpack = pythonWithoutMsgpack();
  it.runIf(noMsgpack !== undefined)(
    "a Python without msgpack: the call fails within seconds naming msgpack and FERRY_PYTHON; a corrected FERRY_PYTHON works at once",
    async () => {
      const stateDir = join(dir, "state-python");
      const saved = process.env.FERRY_PYTHON;
      process.env.FERRY_PYTHON = noMsgpack!;
      try {
        // Workers start from this process's environment at the time each one starts.
        server = await startLocalServer({ stateDir, persistEndpoints: false });
        await configure({ localUrl: server.url, stateDir, quiet: true, onLog: false });
        const add = remote(new CpuLiveServerless({ name: "no-msgpack" })).function<[a: number, b: number], number>(ADD, "add");

        const { error, ms } = await failureOf(add(2, 2));
        expect(error).toBeInstanceOf(WorkerStartError);
        const startError = error as WorkerStartError;
        expect(startError.message).toContain("no module msgpack");
        expect(startError.fix).toContain("FERRY_PYTHON");
        expect(startError.workerOutput.join("\n")).toContain("No module named 'msgpack'");
        expect(ms).toBeLessThan(FAILS_WITHIN_MS);

        // The endpoint's venv was made from the wrong Python; it is replaced, not reused.
        process.env.FERRY_PYTHON = runnerPython({ ...process.env, FERRY_PYTHON: saved ?? "" });
        expect(await add(2, 2)).toBe(4);
      } finally {
        if (saved === undefined) delete process.env.FERRY_PYTHON;
        else process.env.FERRY_PYTHON = saved;
      }
    },
    180_000,
  );
});
