// Where packages are installed: FERRY_VENV, the container's Python, or .ferry/venv.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { runLoggedSubprocess } from "../../handler/subprocess.ts";
import { detectContainer, probeInterpreter, resolvePythonTarget } from "../../handler/deps/index.ts";

const logger = silentLogger();
const basePython = runnerPython();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "ferry-deps-target-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("resolvePythonTarget", () => {
  it("FERRY_VENV: creates the venv with --system-site-packages once, then reuses it", async () => {
    const venv = path.join(dir, "ferry-venv");
    const env = { ...process.env, FERRY_VENV: venv };
    const target = await resolvePythonTarget({ basePython, logger, env, inContainer: true });
    expect(target).toEqual({ python: path.join(venv, "bin", "python"), kind: "ferry-venv-env", venvDir: venv, externallyManaged: false });
    expect(readFileSync(path.join(venv, "pyvenv.cfg"), "utf8")).toMatch(/include-system-site-packages = true/);
    // The runner's modules, installed in the base Python, stay importable from the venv.
    const r = await runLoggedSubprocess(target.python, ["-c", "import msgpack, cloudpickle, packaging, sys; print(sys.prefix)"], {
      operation: "test",
      timeoutMs: 20_000,
    });
    expect(r.stdout).toBe(venv);
    const started = performance.now();
    const again = await resolvePythonTarget({ basePython, logger, env });
    expect(again).toEqual(target);
    expect(performance.now() - started).toBeLessThan(100);
  }, 120_000);

  it.runIf(existsSync("/usr/lib/python3.11/EXTERNALLY-MANAGED") && basePython === "/usr/bin/python3")(
    "container: the image's Python, marked externally managed (Debian's PEP 668 marker)",
    async () => {
      const env = { ...process.env };
      delete env.FERRY_VENV;
      const target = await resolvePythonTarget({ basePython, logger, env, inContainer: true });
      expect(target).toEqual({ python: basePython, kind: "container", externallyManaged: true });
    },
  );

  it("container: a venv interpreter is not externally managed", async () => {
    const venvPython = path.join(dir, "ferry-venv", "bin", "python");
    const info = await probeInterpreter(venvPython, { logger });
    expect(info.in_venv).toBe(true);
    expect(info.externally_managed).toBe(false);
    const env = { ...process.env };
    delete env.FERRY_VENV;
    expect(await resolvePythonTarget({ basePython: venvPython, logger, env, inContainer: true })).toEqual({
      python: venvPython,
      kind: "container",
      externallyManaged: false,
    });
  }, 30_000);

  it("outside a container: a venv under .ferry/, never the user's own Python", async () => {
    const project = path.join(dir, "project");
    const env = { ...process.env };
    delete env.FERRY_VENV;
    const target = await resolvePythonTarget({ basePython, logger, env, cwd: project, inContainer: false });
    const venv = path.join(project, ".ferry", "venv");
    expect(target).toEqual({ python: path.join(venv, "bin", "python"), kind: "local-venv", venvDir: venv, externallyManaged: false });
    expect(target.python).not.toBe(basePython);
    expect(existsSync(target.python)).toBe(true);
  }, 120_000);

  it("a venv made from another interpreter is replaced: the venv is keyed by the Python it was made from", async () => {
    // "Another interpreter": a plain venv of the base Python (another executable path).
    const other = path.join(dir, "other-python");
    const made = await runLoggedSubprocess(basePython, ["-m", "venv", "--without-pip", other], { operation: "test", timeoutMs: 60_000 });
    expect(made.ok, made.stderr).toBe(true);
    const otherPython = path.join(other, "bin", "python");
    const venv = path.join(dir, "keyed-venv");
    const env = { ...process.env, FERRY_VENV: venv };
    const importMsgpack = (python: string) => runLoggedSubprocess(python, ["-c", "import msgpack"], { operation: "test", timeoutMs: 20_000 });

    const wrong = await resolvePythonTarget({ basePython: otherPython, logger, env });
    writeFileSync(path.join(venv, "made-from-the-other-python"), "");
    const otherInfo = await probeInterpreter(otherPython, { logger });
    expect(JSON.parse(readFileSync(path.join(venv, "ferry-base.json"), "utf8"))).toEqual({ executable: otherInfo.executable, version: otherInfo.version });

    // The corrected interpreter takes effect at once; nothing is deleted by hand.
    const right = await resolvePythonTarget({ basePython, logger, env });
    expect(right.python).toBe(wrong.python);
    expect(existsSync(path.join(venv, "made-from-the-other-python"))).toBe(false);
    expect((await importMsgpack(right.python)).ok).toBe(true);
    const baseInfo = await probeInterpreter(basePython, { logger });
    expect(JSON.parse(readFileSync(path.join(venv, "ferry-base.json"), "utf8"))).toEqual({ executable: baseInfo.executable, version: baseInfo.version });
  }, 180_000);

  it("fails with a DependencyInstallError when the venv cannot be created", async () => {
    const env = { ...process.env, FERRY_VENV: path.join(dir, "never") };
    await expect(resolvePythonTarget({ basePython: path.join(dir, "no-such-python"), logger, env })).rejects.toMatchObject({
      name: "DependencyInstallError",
      tool: "venv",
    });
  });

  it("detects this machine's container markers", () => {
    const markers = existsSync("/.dockerenv") || existsSync("/run/.containerenv") || /docker|kubepods|containerd|libpod|podman|lxc/.test(readFileSafe("/proc/1/cgroup"));
    expect(detectContainer()).toBe(process.platform === "linux" && markers);
  });
});

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}
