// Python dependencies end to end: a local PEP 503 index with wheels built here, a venv given by
// FERRY_VENV, real pip, and the real persistent Python child checking and importing.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PythonEngine } from "../../handler/engine/python-engine.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { parseFunctionRequest, type LogLine } from "../../protocol/wire.ts";
import { DependencyInstallError, clearDependencyMemo, installDependencies, resolvePythonTarget, type PythonTarget } from "../../handler/deps/index.ts";
import { createSubprocessRequirementChecker } from "../../handler/deps/requirement-checker.ts";
import { startPep503Index, type Pep503Index } from "../helpers/pep503-index.ts";
import { buildWheel } from "../helpers/wheels.ts";

const logger = silentLogger();
let dir: string;
let index: Pep503Index;
let target: PythonTarget;
let engine: PythonEngine;
let env: NodeJS.ProcessEnv;

async function importInChild(module: string): Promise<unknown> {
  const parsed = parseFunctionRequest({
    function_name: "probe",
    function_code: `def probe():\n    import importlib\n    m = importlib.import_module(${JSON.stringify(module)})\n    return m.__version__`,
    serialization_format: "json",
  });
  if (!parsed.ok) throw new Error(parsed.error);
  const outcome = await engine.call(parsed.request, { timeoutMs: 20_000 });
  if (!outcome.success) throw new Error(`${outcome.error_type}: ${outcome.error}`);
  return outcome.json_result;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "ferry-deps-pip-"));
  index = await startPep503Index([
    buildWheel({ name: "ferry-demo-alpha", version: "1.0" }),
    buildWheel({ name: "ferry-demo-beta", version: "1.0" }),
    buildWheel({ name: "ferry-demo-beta", version: "2.0" }),
    buildWheel({ name: "Ferry_Demo.Gamma", version: "0.3" }),
    buildWheel({ name: "ferry-demo-delta", version: "4.2" }),
    buildWheel({ name: "ferry-demo-epsilon", version: "5.0" }),
  ]);
  env = { ...process.env, FERRY_VENV: path.join(dir, "venv"), PIP_INDEX_URL: index.url, UV_INDEX_URL: index.url, PIP_CACHE_DIR: path.join(dir, "pip-cache"), UV_CACHE_DIR: path.join(dir, "uv-cache") };
  delete env.PIP_EXTRA_INDEX_URL;
  target = await resolvePythonTarget({ basePython: runnerPython(), logger, env });
  engine = new PythonEngine({ python: target.python, logger, env });
  await engine.start();
}, 120_000);

afterAll(async () => {
  await engine?.stop();
  await index?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Python dependencies through a local PEP 503 index", () => {
  it("installs into the FERRY_VENV venv, made with --system-site-packages from the runner's Python", () => {
    expect(target.kind).toBe("ferry-venv-env");
    expect(target.python).toBe(path.join(dir, "venv", "bin", "python"));
    expect(target.externallyManaged).toBe(false);
  });

  it("installs a missing package, which the already-running child then imports", async () => {
    // The child is warm and has looked at site-packages before the install.
    await expect(importInChild("ferry_demo_alpha")).rejects.toThrow(/ModuleNotFoundError/);
    const logs: LogLine[] = [];
    const report = await installDependencies(
      { dependencies: ["ferry-demo-alpha"], accelerate_downloads: false },
      { engine, logger, env, target, onLog: (l) => logs.push(l) },
    );
    expect(report.python.installer).toBe("pip");
    expect(report.python.installed).toEqual([{ name: "ferry-demo-alpha", version: "1.0", requirement: "ferry-demo-alpha" }]);
    expect(report.python.already_present).toEqual([]);
    expect(report.python.install_ms).toBeGreaterThan(0);
    expect(await importInChild("ferry_demo_alpha")).toBe("1.0");
    expect(logs.some((l) => l.stream === "worker" && /installing ferry-demo-alpha/.test(l.line))).toBe(true);
    // The installer's own output reaches the live log too.
    expect(logs.some((l) => /Successfully installed ferry-demo-alpha-1.0/.test(l.line))).toBe(true);
  }, 120_000);

  it("skips a satisfied pin without running an installer, then answers the same set from memory", async () => {
    const requests = index.requests.length;
    const first = await installDependencies({ dependencies: ["ferry_demo_alpha==1.0"] }, { engine, logger, env, target });
    expect(first.python.installed).toEqual([]);
    expect(first.python.already_present).toEqual([{ name: "ferry-demo-alpha", version: "1.0", requirement: "ferry-demo-alpha==1.0" }]);
    expect(first.python.memoized).toBe(false);
    expect(first.python.installer).toBeNull();
    // Same set, spelled differently: the normalized key matches.
    const again = await installDependencies({ dependencies: ["Ferry.Demo-Alpha == 1.0"] }, { engine, logger, env, target });
    expect(again.python.memoized).toBe(true);
    expect(again.python.already_present).toEqual(first.python.already_present);
    expect(index.requests.length).toBe(requests);
  }, 60_000);

  it("upgrades an unsatisfied pin (ferry-demo-beta>=2 with 1.0 installed)", async () => {
    const one = await installDependencies({ dependencies: ["ferry-demo-beta==1.0"] }, { engine, logger, env, target });
    expect(one.python.installed).toEqual([{ name: "ferry-demo-beta", version: "1.0", requirement: "ferry-demo-beta==1.0" }]);
    expect(await importInChild("ferry_demo_beta")).toBe("1.0");

    const two = await installDependencies({ dependencies: ["ferry-demo-alpha", "ferry-demo-beta>=2"] }, { engine, logger, env, target });
    expect(two.python.installed).toEqual([{ name: "ferry-demo-beta", version: "2.0", requirement: "ferry-demo-beta>=2" }]);
    expect(two.python.already_present).toEqual([{ name: "ferry-demo-alpha", version: "1.0", requirement: "ferry-demo-alpha" }]);
    // The earlier memo for the alpha-only set was cleared by this install.
    const alpha = await installDependencies({ dependencies: ["ferry_demo_alpha==1.0"] }, { engine, logger, env, target });
    expect(alpha.python.memoized).toBe(false);
  }, 120_000);

  it("fails for a name that does not exist, with pip's own message, and installs nothing else", async () => {
    const attempt = installDependencies({ dependencies: ["ferry-demo-gamma", "ferry-no-such-package>=1"] }, { engine, logger, env, target });
    const error = await attempt.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyInstallError);
    const e = error as DependencyInstallError;
    expect(e.name).toBe("DependencyInstallError");
    expect(e.errorType).toBe("DependencyInstallError");
    expect(e.tool).toBe("pip");
    expect(e.message).toMatch(/No matching distribution found for ferry-no-such-package>=1/);
    expect(e.outputTail).toMatch(/Could not find a version that satisfies the requirement ferry-no-such-package>=1/);
    expect(e.describe()).toContain("pip output");
    // One command for both: pip resolves all or nothing.
    const check = await engine.checkRequirements(["ferry-demo-gamma"]);
    expect(check[0]!.installed_version).toBeNull();
  }, 120_000);

  it("skips a requirement whose marker excludes this interpreter", async () => {
    const report = await installDependencies({ dependencies: ['ferry-no-such-package ; python_version < "3"'] }, { engine, logger, env, target });
    expect(report.python.not_applicable).toEqual(['ferry-no-such-package; python_version < "3"']);
    expect(report.python.installed).toEqual([]);
  }, 30_000);

  it("works the same with the one-shot subprocess checker", async () => {
    clearDependencyMemo();
    const checker = createSubprocessRequirementChecker(target.python, { logger, env });
    const report = await installDependencies({ dependencies: ["ferry-demo-gamma==0.3", "ferry-demo-alpha<2"] }, { engine: checker, logger, env });
    expect(report.python.installed).toEqual([{ name: "ferry-demo-gamma", version: "0.3", requirement: "ferry-demo-gamma==0.3" }]);
    expect(report.python.already_present).toEqual([{ name: "ferry-demo-alpha", version: "1.0", requirement: "ferry-demo-alpha<2" }]);
  }, 120_000);

  it("runs pip and apt in parallel, and caches downloads on a mounted RunPod volume", async () => {
    const volume = path.join(dir, "runpod-volume");
    mkdirSync(volume);
    // pip caches downloads only from https origins and trusted hosts.
    const noCacheEnv: NodeJS.ProcessEnv = { ...env, PIP_TRUSTED_HOST: "127.0.0.1" };
    delete noCacheEnv.PIP_CACHE_DIR;
    delete noCacheEnv.UV_CACHE_DIR;
    const report = await installDependencies(
      { dependencies: ["ferry-demo-delta==4.2"], system_dependencies: ["dpkg"], accelerate_downloads: true },
      { engine, logger, env: noCacheEnv, target, runpodVolume: volume },
    );
    expect(report.parallel).toBe(true);
    expect(report.python.installed).toEqual([{ name: "ferry-demo-delta", version: "4.2", requirement: "ferry-demo-delta==4.2" }]);
    expect(report.system.already_present.map((p) => p.name)).toEqual(["dpkg"]);
    expect(report.total_ms).toBeGreaterThanOrEqual(Math.max(report.python.total_ms, report.system.total_ms));
    expect(existsSync(path.join(volume, ".cache", "pip"))).toBe(true);
    expect(readdirSync(path.join(volume, ".cache", "pip")).length).toBeGreaterThan(0);
    expect(await importInChild("ferry_demo_delta")).toBe("4.2");
  }, 120_000);

  it("does nothing once the call is cancelled", async () => {
    const controller = new AbortController();
    controller.abort(new Error("job cancelled"));
    await expect(
      installDependencies({ dependencies: ["ferry-demo-beta==1.0"] }, { engine, logger, env, target, signal: controller.signal }),
    ).rejects.toThrow("job cancelled");
    expect((await engine.checkRequirements(["ferry-demo-beta"]))[0]!.installed_version).toBe("2.0");
  });

  it("two calls that need the same missing package at once run one install", async () => {
    const [a, b] = await Promise.all([
      installDependencies({ dependencies: ["ferry-demo-epsilon"] }, { engine, logger, env, target }),
      installDependencies({ dependencies: ["ferry-demo-epsilon>=5"] }, { engine, logger, env, target }),
    ]);
    const installs = [a, b].map((r) => r.python.installed.length).sort();
    expect(installs).toEqual([0, 1]);
    expect([...a.python.already_present, ...b.python.already_present]).toHaveLength(1);
    expect(index.requests.filter((r) => r.startsWith("/files/ferry_demo_epsilon"))).toHaveLength(1);
  }, 120_000);
});
