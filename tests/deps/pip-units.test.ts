// The pip/uv command, installer choice, cache placement and failure classification.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { chooseInstaller, findOnPath, installerEnvironment, installerMessage, isCompilerMissing, pipInstallCommand } from "../../handler/deps/pip-installer.ts";
import { checkGuardedRequirements, createSubprocessRequirementChecker } from "../../handler/deps/requirement-checker.ts";
import { parseRequirement } from "../../handler/deps/requirement-spec.ts";
import type { SubprocessResult } from "../../handler/subprocess.ts";
import { DependencyInstallError, DependencySpecError, installDependencies, type RequirementChecker } from "../../handler/deps/index.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "ferry-deps-units-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pipInstallCommand", () => {
  it("pip: the interpreter's own pip, requirements after --", () => {
    expect(pipInstallCommand({ python: "/venv/bin/python", requirements: ["a>=1", "b"], installer: "pip", breakSystemPackages: false })).toEqual({
      command: "/venv/bin/python",
      args: ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "--", "a>=1", "b"],
    });
  });

  it("uv: uv pip install --python, with --break-system-packages for an externally managed Python", () => {
    expect(pipInstallCommand({ python: "/usr/bin/python3", requirements: ["a"], installer: "uv", uv: "/opt/uv", breakSystemPackages: true })).toEqual({
      command: "/opt/uv",
      args: ["pip", "install", "--python", "/usr/bin/python3", "--break-system-packages", "--", "a"],
    });
  });
});

describe("chooseInstaller", () => {
  it("uses uv only when it is on PATH and downloads are accelerated", () => {
    const bin = path.join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, "uv"), "");
    chmodSync(path.join(bin, "uv"), 0o755);
    const env = { PATH: `/nonexistent:${bin}` };
    expect(findOnPath("uv", env)).toBe(path.join(bin, "uv"));
    expect(chooseInstaller(true, env)).toEqual({ installer: "uv", uv: path.join(bin, "uv") });
    expect(chooseInstaller(false, env)).toEqual({ installer: "pip" });
    expect(chooseInstaller(true, { PATH: "/nonexistent" })).toEqual({ installer: "pip" });
  });

  it("ignores a file named uv that is not executable", () => {
    const bin = path.join(dir, "bin2");
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, "uv"), "");
    chmodSync(path.join(bin, "uv"), 0o644);
    expect(findOnPath("uv", { PATH: bin })).toBeUndefined();
  });
});

describe("installerEnvironment", () => {
  it("puts the pip and uv caches on a mounted RunPod volume", () => {
    const volume = path.join(dir, "runpod-volume");
    mkdirSync(volume, { recursive: true });
    expect(installerEnvironment({}, volume)).toMatchObject({
      PIP_CACHE_DIR: path.join(volume, ".cache", "pip"),
      UV_CACHE_DIR: path.join(volume, ".cache", "uv"),
      UV_LINK_MODE: "copy",
    });
  });

  it("honours UV_CACHE_DIR and PIP_CACHE_DIR when they are set", () => {
    const volume = path.join(dir, "runpod-volume");
    mkdirSync(volume, { recursive: true });
    const out = installerEnvironment({ UV_CACHE_DIR: "/mine/uv", PIP_CACHE_DIR: "/mine/pip" }, volume);
    expect(out.UV_CACHE_DIR).toBeUndefined();
    expect(out.PIP_CACHE_DIR).toBeUndefined();
  });

  it("leaves caches alone without a volume, and mirrors pip's index for uv", () => {
    const out = installerEnvironment({ PIP_INDEX_URL: "http://127.0.0.1:1/simple/" }, path.join(dir, "no-volume"));
    expect(out.PIP_CACHE_DIR).toBeUndefined();
    expect(out.UV_CACHE_DIR).toBeUndefined();
    expect(out.UV_INDEX_URL).toBe("http://127.0.0.1:1/simple/");
    expect(installerEnvironment({ PIP_INDEX_URL: "a", UV_INDEX_URL: "b" }, path.join(dir, "no-volume")).UV_INDEX_URL).toBeUndefined();
  });
});

describe("isCompilerMissing", () => {
  it.each([
    "error: command 'x86_64-linux-gnu-gcc' failed: No such file or directory",
    "error: command 'gcc' failed: No such file or directory",
    "unable to execute 'gcc': No such file or directory",
    "/bin/sh: 1: x86_64-linux-gnu-gcc: not found",
    "gcc: command not found",
    "error: linker `cc` not found",
    "CMake Error at CMakeLists.txt:2 (project):\n  No CMAKE_C_COMPILER could be found.",
    "../meson.build:1:0: ERROR: Unknown compiler(s): [['cc'], ['gcc'], ['clang']]",
    "configure: error: C compiler cannot create executables",
  ])("%s", (text) => {
    expect(isCompilerMissing(`Building wheel for x (setup.py) ... error\n${text}\n`)).toBe(true);
  });

  it.each([
    "ERROR: Could not find a version that satisfies the requirement nope (from versions: none)",
    "fatal error: Python.h: No such file or directory",
    "error: subprocess-exited-with-error",
  ])("not: %s", (text) => {
    expect(isCompilerMissing(text)).toBe(false);
  });
});

describe("installerMessage", () => {
  const result = (stdout: string, stderr: string): SubprocessResult => ({ ok: false, exitCode: 1, signal: null, stdout, stderr, durationMs: 1, timedOut: false });
  it("picks pip's ERROR lines", () => {
    expect(installerMessage(result("Looking in indexes: x", "ERROR: Could not find a version\nERROR: No matching distribution found for nope"))).toBe(
      "ERROR: Could not find a version\nERROR: No matching distribution found for nope",
    );
  });
  it("picks uv's error lines", () => {
    expect(installerMessage(result("", "  × No solution found when resolving dependencies:\n  ╰─▶ Because nope was not found in the package registry"))).toBe(
      "× No solution found when resolving dependencies:\n╰─▶ Because nope was not found in the package registry",
    );
  });
  it("falls back to the last line", () => {
    expect(installerMessage(result("", "something odd\nKilled"))).toBe("Killed");
  });
});

describe("canonical forms from packaging", () => {
  it("are what packaging parses back to themselves, with the PEP 503 name, and pass the guard", async () => {
    const inputs = [
      "NumPy>=1.2,<2",
      "requests [Socks] ~= 2.31 ; python_version >= '3.8' and os_name != \"nt\"",
      "pkg===weird-1",
      "pkg==1.0.*",
      "pkg @ https://example.com/pkg-1.0-py3-none-any.whl ; sys_platform == 'linux'",
      "Foo_Bar.baz (>=1)",
      'pkg; platform_machine not in "arm64 aarch64"',
      "pkg>=1.0,",
    ];
    const checker = createSubprocessRequirementChecker(runnerPython(), { logger: silentLogger() });
    const guarded = inputs.map((input, i) => parseRequirement(input, { allowDirectReferences: true }, i));
    const checks = await checkGuardedRequirements(checker, guarded);
    expect(checks.map((c) => c.requirement)).toEqual([
      "numpy<2,>=1.2",
      'requests[socks]~=2.31; python_version >= "3.8" and os_name != "nt"',
      "pkg===weird-1",
      "pkg==1.0.*",
      'pkg@ https://example.com/pkg-1.0-py3-none-any.whl ; sys_platform == "linux"',
      "foo-bar-baz>=1",
      'pkg; platform_machine not in "arm64 aarch64"',
      "pkg>=1.0",
    ]);
    expect(checks.map((c) => c.name)).toEqual(["numpy", "requests", "pkg", "pkg", "pkg", "foo-bar-baz", "pkg", "pkg"]);
    const again = await checker.checkRequirements(checks.map((c) => c.requirement));
    expect(again.map((c) => c.requirement)).toEqual(checks.map((c) => c.requirement));
  }, 30_000);
});

describe("answers from the checker", () => {
  const logger = silentLogger();
  const checker = (answer: () => Promise<unknown>): RequirementChecker => ({
    python: "/x/python",
    checkRequirements: answer as RequirementChecker["checkRequirements"],
    invalidateImportCaches: async () => {},
  });

  it("a failing check is a DependencyInstallError naming the interpreter", async () => {
    const error = await installDependencies({ dependencies: ["a"] }, { engine: checker(() => Promise.reject(new Error("child died"))), logger }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyInstallError);
    expect((error as DependencyInstallError).message).toBe("Could not check the installed Python packages in /x/python: child died");
  });

  it("a malformed answer is refused", async () => {
    const error = await installDependencies({ dependencies: ["a", "b"] }, { engine: checker(async () => [{ requirement: "a", name: "a", installed_version: "1", satisfied: true, marker_applies: true }]), logger }).catch(
      (e: unknown) => e,
    );
    expect((error as DependencyInstallError).outputTail).toBe("expected 2 results, got 1");
  });

  it("a requirement packaging cannot parse is an invalid request", async () => {
    const error = await installDependencies(
      { dependencies: ["a"] },
      { engine: checker(async () => [{ requirement: "a", name: null, installed_version: null, satisfied: false, marker_applies: true, error: "InvalidRequirement: x" }]), logger },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencySpecError);
    expect((error as DependencySpecError).message).toBe('Invalid dependency list: dependencies[0] "a": is not a valid requirement (PEP 508, as judged by packaging): InvalidRequirement: x');
  });

  it("a canonical form that the guard refuses never reaches the installer", async () => {
    const error = await installDependencies(
      { dependencies: ["a"] },
      { engine: checker(async () => [{ requirement: "a --pre", name: "a", installed_version: null, satisfied: false, marker_applies: true }]), logger },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencySpecError);
    expect((error as DependencySpecError).message).toMatch(/dependencies\[0\] "a": its canonical form "a --pre" contains the option '--pre'/);
  });
});
