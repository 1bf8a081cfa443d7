// Where packages are installed: FERRY_VENV, the container's Python, or .ferry/venv.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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
