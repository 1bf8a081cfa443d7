/**
 * `ferry types` as users run it (`node bin/ferry.mjs types ...`): a syntax error names the file
 * and line while the other files are still typed; `--check` for CI; `--watch` rewrites the
 * declarations when the Python changes; a missing Python says what to set.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
let dir: string;

async function ferryTypes(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [resolve("bin/ferry.mjs"), "types", ...args], { cwd: dir, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-types-cli-"));
  mkdirSync(join(dir, "py"));
  mkdirSync(join(dir, "node_modules", "dep"), { recursive: true });
  writeFileSync(join(dir, "py", "good.py"), "def hello(name: str) -> str:\n    return name\n");
  writeFileSync(join(dir, "py", "bad.py"), "def ok(x: int) -> int:\n    return x\n\ndef broken(:\n    pass\n");
  writeFileSync(join(dir, "node_modules", "dep", "vendored.py"), "def skipped() -> None: ...\n");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("ferry types", () => {
  it("a syntax error names the file and line; the other files are still generated", async () => {
    const r = await ferryTypes([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("py/bad.py:4:12: invalid syntax (no types generated for this file)");
    expect(r.stderr).toContain("ferry: 1 Python file could not be read; the others were typed");
    expect(r.stdout).toContain("1 of 2 Python files typed");
    expect(readFileSync(join(dir, "py", "good.ferry.d.ts"), "utf8")).toContain("hello: { args: [name: string]; kwargs: {}; result: string; yields: string }");
    expect(existsSync(join(dir, "py", "good.ferry.js"))).toBe(true);
    expect(existsSync(join(dir, "py", "bad.ferry.d.ts"))).toBe(false);
    // node_modules (and virtual environments, caches, dot-folders) are not the project's Python.
    expect(existsSync(join(dir, "node_modules", "dep", "vendored.ferry.d.ts"))).toBe(false);
  }, 60_000);

  it("--check: exit 1 while a generated file is missing or stale, 0 when up to date", async () => {
    rmSync(join(dir, "py", "bad.py"));
    const missing = await ferryTypes(["--check", "py"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("stale: py/good.ferry.d.ts");
    expect(missing.stderr).toContain("stale: py/good.ferry.js");
    expect(existsSync(join(dir, "py", "good.ferry.d.ts"))).toBe(false);
    expect((await ferryTypes(["py"])).code).toBe(0);
    const fresh = await ferryTypes(["--check", "py"]);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain("declarations up to date");
    // A second run changes nothing.
    expect((await ferryTypes(["py"])).stdout).toContain("0 files written");
  }, 60_000);

  it("--watch rewrites the declarations when the Python changes", async () => {
    const child = spawn(process.execPath, [resolve("bin/ferry.mjs"), "types", "--watch", "py/good.py"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const until = async (what: () => boolean, label: string) => {
      const deadline = Date.now() + 30_000;
      while (!what()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}; output:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until(() => output.includes("watching"), "the watcher");
      expect(readFileSync(join(dir, "py", "good.ferry.d.ts"), "utf8")).toContain("[name: string]");
      writeFileSync(join(dir, "py", "good.py"), "def hello(name: str, times: int = 1) -> list[str]:\n    return [name] * times\n");
      const declarations = join(dir, "py", "good.ferry.d.ts");
      await until(() => readFileSync(declarations, "utf8").includes("times?: number | bigint"), "the rewrite");
      expect(readFileSync(declarations, "utf8")).toContain("result: string[]");
    } finally {
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  }, 60_000);

  it("the examples' generated modules match their Python", async () => {
    const { stdout } = await run(process.execPath, [resolve("bin/ferry.mjs"), "types", "--check", "examples/py"], { timeout: 60_000 });
    expect(stdout).toContain("declarations up to date");
  }, 60_000);

  it("a Python that cannot be found says what to set", async () => {
    const r = await ferryTypes(["py/good.py"], { ...process.env, FERRY_PYTHON: join(dir, "no-such-python") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("was not found (set FERRY_PYTHON to a Python 3.9+)");
  }, 60_000);
});
