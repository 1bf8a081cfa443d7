// System packages through the real dpkg-query and apt-get (this machine runs as root with apt).
import path from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../protocol/logger.ts";
import { runLoggedSubprocess } from "../../handler/subprocess.ts";
import { findOnPath } from "../../handler/deps/pip-installer.ts";
import { DependencyInstallError, clearDependencyMemo, installDependencies, type RequirementChecker } from "../../handler/deps/index.ts";

const logger = silentLogger();
const isRoot = process.geteuid?.() === 0;
const hasApt = process.platform === "linux" && findOnPath("apt-get") !== undefined && findOnPath("dpkg-query") !== undefined;
const runuser = findOnPath("runuser");

// These tests name no Python requirements: a checker that fails if asked proves it is not.
const engine: RequirementChecker = {
  python: "/nonexistent/python",
  checkRequirements: () => Promise.reject(new Error("Python must not be asked")),
  invalidateImportCaches: () => Promise.reject(new Error("Python must not be asked")),
};

async function dpkgVersion(name: string): Promise<string | null> {
  const r = await runLoggedSubprocess("dpkg-query", ["-W", "-f=${db:Status-Abbrev}\\t${Version}", name], { operation: "test-dpkg", timeoutMs: 10_000 });
  const [status, version] = r.stdout.split("\t");
  return r.ok && status?.startsWith("ii") ? (version ?? null) : null;
}

async function removePackage(name: string): Promise<void> {
  if ((await dpkgVersion(name)) === null) return;
  const r = await runLoggedSubprocess("dpkg", ["-r", name], { operation: "test-dpkg-remove", timeoutMs: 60_000, env: { DEBIAN_FRONTEND: "noninteractive" } });
  if (!r.ok) throw new Error(`could not remove ${name}: ${r.stderr}`);
}

describe.runIf(hasApt && isRoot)("apt as root", () => {
  it("installs a missing package (hello), then skips it on the next request", async () => {
    await removePackage("hello");
    clearDependencyMemo();
    try {
      const first = await installDependencies({ system_dependencies: ["hello"] }, { engine, logger, aptTimeouts: { installMs: 120_000, updateMs: 120_000 } });
      expect(first.system.installer).toBe("apt-get");
      expect(first.system.installed).toEqual([{ name: "hello", version: expect.stringMatching(/^\d/) }]);
      expect(first.system.install_ms).toBeGreaterThan(0);
      expect(first.python.requested).toEqual([]);
      const ran = await runLoggedSubprocess("hello", [], { operation: "test-hello", timeoutMs: 10_000 });
      expect(ran.stdout).toBe("Hello, world!");

      const second = await installDependencies({ system_dependencies: ["hello"] }, { engine, logger });
      expect(second.system.installed).toEqual([]);
      expect(second.system.memoized).toBe(true);
      expect(second.system.already_present).toEqual(first.system.installed);

      // Without the memo, dpkg-query answers, and nothing is installed.
      clearDependencyMemo();
      const third = await installDependencies({ system_dependencies: ["hello", "dpkg"] }, { engine, logger });
      expect(third.system.memoized).toBe(false);
      expect(third.system.installer).toBeNull();
      expect(third.system.installed).toEqual([]);
      expect(third.system.already_present.map((p) => p.name)).toEqual(["hello", "dpkg"]);
      expect(third.system.check_ms).toBeLessThan(2_000);
    } finally {
      await removePackage("hello");
    }
  }, 180_000);

  it("fails with apt's own message for a package that does not exist (after one apt-get update)", async () => {
    const lines: string[] = [];
    const error = await installDependencies(
      { system_dependencies: ["ferry-no-such-deb"] },
      { engine, logger, aptTimeouts: { installMs: 60_000, updateMs: 90_000 }, onLog: (l) => lines.push(l.line) },
    ).catch((e: unknown) => e);
    expect(lines.filter((l) => l.startsWith("[deps] apt-get update"))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith("[deps] apt-get install"))).toHaveLength(2);
    expect(error).toBeInstanceOf(DependencyInstallError);
    const e = error as DependencyInstallError;
    expect(e.tool).toBe("apt-get");
    expect(e.message).toMatch(/E: Unable to locate package ferry-no-such-deb/);
  }, 200_000);
});

describe.runIf(hasApt && isRoot && runuser !== undefined)("apt as an unprivileged user", () => {
  it("fails at once with an error naming what was asked for, before any apt-get", async () => {
    await removePackage("hello");
    const tsx = path.resolve("node_modules/.bin/tsx");
    const fixture = path.resolve("tests/deps/fixtures/install-as-current-user.ts");
    const started = performance.now();
    const r = await runLoggedSubprocess(runuser!, ["-u", "nobody", "--", tsx, fixture, "hello", "dpkg"], {
      operation: "test-runuser",
      timeoutMs: 30_000,
      env: { HOME: "/tmp" },
    });
    expect(r.ok, r.stderr).toBe(true);
    const outcome = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(outcome).toEqual({
      ok: false,
      uid: 65534,
      name: "DependencyInstallError",
      errorType: "DependencyInstallError",
      message:
        "Installing system packages (hello) needs root, but the worker runs as uid 65534. Run the worker as root or install them into the image.",
    });
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 40_000);

  it("succeeds as an unprivileged user when everything is already installed", async () => {
    const tsx = path.resolve("node_modules/.bin/tsx");
    const fixture = path.resolve("tests/deps/fixtures/install-as-current-user.ts");
    const r = await runLoggedSubprocess(runuser!, ["-u", "nobody", "--", tsx, fixture, "dpkg", "coreutils"], {
      operation: "test-runuser",
      timeoutMs: 30_000,
      env: { HOME: "/tmp" },
    });
    const outcome = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(outcome.ok).toBe(true);
    expect(outcome.report.system.already_present.map((p: { name: string }) => p.name)).toEqual(["dpkg", "coreutils"]);
  }, 40_000);
});

describe("apt where it cannot run", () => {
  it("skips system packages on macOS with a notice", async () => {
    const lines: string[] = [];
    const report = await installDependencies(
      { system_dependencies: ["ffmpeg"] },
      { engine, logger, system: { platform: "darwin" }, onLog: (l) => lines.push(l.line) },
    );
    expect(report.system.skipped).toMatch(/macOS/);
    expect(report.system.installed).toEqual([]);
    expect(lines.join("\n")).toMatch(/system_dependencies \(ffmpeg\) skipped: apt packages are not installed on macOS/);
  });

  it("fails clearly on a system without apt", async () => {
    const error = await installDependencies({ system_dependencies: ["ffmpeg", "libgl1"] }, { engine, logger, system: { platform: "win32" } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DependencyInstallError);
    expect((error as Error).message).toMatch(/^system_dependencies \(ffmpeg, libgl1\) need apt \(Debian or Ubuntu\); this system \(win32\) has no apt-get/);
  });

  it("fails clearly when apt-get is not on PATH", async () => {
    const error = await installDependencies({ system_dependencies: ["ffmpeg"] }, { engine, logger, env: { PATH: "/nonexistent" } }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/need apt/);
  });
});
