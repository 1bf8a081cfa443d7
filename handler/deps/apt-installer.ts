/**
 * System packages through apt: `dpkg-query` says what is installed; only the missing ones go
 * to `apt-get install -y --no-install-recommends` (or nala, when present and downloads are to
 * be accelerated). `apt-get update` runs only when the package lists are missing or a package
 * was not found. Every command has a timeout, and apt waits a bounded time for its lock, so a
 * request can fail but never hang.
 */
import { readdirSync } from "node:fs";
import type { Logger } from "../../protocol/logger.ts";
import { runLoggedSubprocess, tailLines, type SubprocessResult } from "../subprocess.ts";
import { DependencyInstallError } from "./errors.ts";
import { findOnPath } from "./pip-installer.ts";
import type { ParsedAptPackage } from "./requirement-spec.ts";

export type AptInstaller = "apt-get" | "nala";

/** What the apt step needs to know about the machine; tests may override parts. */
export interface AptSystem {
  platform: NodeJS.Platform;
  /** Effective uid; undefined where the platform has none. */
  uid: number | undefined;
  /** Directory of apt's package lists. */
  listsDir: string;
}

export function currentAptSystem(): AptSystem {
  return { platform: process.platform, uid: process.geteuid?.(), listsDir: "/var/lib/apt/lists" };
}

export interface AptTimeouts {
  queryMs: number;
  updateMs: number;
  installMs: number;
  /** How long apt waits for another apt/dpkg to release its lock. */
  lockWaitS: number;
}

export const DEFAULT_APT_TIMEOUTS: AptTimeouts = { queryMs: 30_000, updateMs: 5 * 60_000, installMs: 20 * 60_000, lockWaitS: 120 };

export interface AptOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  system?: Partial<AptSystem>;
  timeouts?: Partial<AptTimeouts>;
  onProgress?: (line: string) => void;
}

/** Installed Debian packages among `names`: name -> version. */
export async function queryInstalledDebs(names: readonly string[], options: AptOptions): Promise<Map<string, string>> {
  const installed = new Map<string, string>();
  if (names.length === 0) return installed;
  const result = await runLoggedSubprocess("dpkg-query", ["-W", "-f=${Package}\\t${db:Status-Abbrev}\\t${Version}\\n", ...names], {
    operation: "dpkg-query",
    timeoutMs: options.timeouts?.queryMs ?? DEFAULT_APT_TIMEOUTS.queryMs,
    logger: options.logger,
    env: { ...(options.env ?? {}), LC_ALL: "C" },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (result.spawnError || result.timedOut) {
    throw new DependencyInstallError(`dpkg-query could not list installed packages: ${result.spawnError ?? "timed out"}`, {
      tool: "dpkg-query",
      exitCode: result.exitCode,
      outputTail: tailLines(result.stderr, 10),
    });
  }
  // Exit status 1 only means some names are unknown to dpkg: those are simply not installed.
  for (const line of result.stdout.split("\n")) {
    const [name, status, version] = line.split("\t");
    if (name && version && status?.startsWith("ii")) installed.set(name, version);
  }
  return installed;
}

/** The requested packages that are not installed (a pinned one counts only at its version). */
export function missingPackages(packages: readonly ParsedAptPackage[], installed: ReadonlyMap<string, string>): ParsedAptPackage[] {
  return packages.filter((p) => {
    const version = installed.get(p.name);
    return version === undefined || (p.version !== undefined && p.version !== version);
  });
}

function listsPresent(listsDir: string): boolean {
  try {
    return readdirSync(listsDir).some((f) => f.endsWith("_Packages") || f.includes("_Packages."));
  } catch {
    return false;
  }
}

const NOT_FOUND = /Unable to locate package|has no installation candidate|Version '[^']*' for '[^']*' was not found|Failed to fetch|404\s+Not Found/;

/**
 * Fails with a clear message when apt cannot be used here: not Linux with apt, or not root.
 * Returns false on macOS, where system packages are skipped with a notice.
 */
export function assertAptUsable(requested: readonly string[], options: AptOptions): boolean {
  const system = { ...currentAptSystem(), ...options.system };
  const asked = requested.join(", ");
  if (system.platform === "darwin") {
    const note = `system_dependencies (${asked}) skipped: apt packages are not installed on macOS`;
    options.logger.warn(note);
    options.onProgress?.(note);
    return false;
  }
  const env = options.env ?? process.env;
  if (system.platform !== "linux" || !findOnPath("apt-get", env) || !findOnPath("dpkg-query", env)) {
    throw new DependencyInstallError(
      `system_dependencies (${asked}) need apt (Debian or Ubuntu); this system (${system.platform}) has no apt-get/dpkg-query. Install them into the image instead.`,
      { tool: "ferry" },
    );
  }
  return true;
}

export function assertRoot(missing: readonly string[], options: AptOptions): void {
  const system = { ...currentAptSystem(), ...options.system };
  if (system.uid !== 0) {
    throw new DependencyInstallError(
      `Installing system packages (${missing.join(", ")}) needs root, but the worker runs as uid ${system.uid ?? "unknown"}. Run the worker as root or install them into the image.`,
      { tool: "ferry" },
    );
  }
}

export interface AptInstallResult {
  installer: AptInstaller;
  listsUpdated: boolean;
  durationMs: number;
}

/** Installs the given (missing) packages. Call assertAptUsable and assertRoot first. */
export async function installAptPackages(
  packages: readonly ParsedAptPackage[],
  accelerateDownloads: boolean,
  options: AptOptions,
): Promise<AptInstallResult> {
  const started = performance.now();
  const system = { ...currentAptSystem(), ...options.system };
  const timeouts = { ...DEFAULT_APT_TIMEOUTS, ...options.timeouts };
  const env: NodeJS.ProcessEnv = { ...(options.env ?? {}), DEBIAN_FRONTEND: "noninteractive", LC_ALL: "C" };
  const names = packages.map((p) => p.normalized);
  const run = (command: string, args: string[], operation: string, timeoutMs: number) =>
    runLoggedSubprocess(command, args, {
      operation,
      timeoutMs,
      logger: options.logger,
      env,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  const lock = ["-o", `DPkg::Lock::Timeout=${timeouts.lockWaitS}`];

  let listsUpdated = false;
  const update = async () => {
    options.onProgress?.("apt-get update (package lists are missing or out of date)");
    const result = await run("apt-get", ["update", ...lock], "apt-get-update", timeouts.updateMs);
    options.signal?.throwIfAborted();
    if (!result.ok) throw aptError("apt-get update", ["apt-get", "update", ...lock], result);
    listsUpdated = true;
  };
  if (!listsPresent(system.listsDir)) await update();

  const nala = accelerateDownloads ? findOnPath("nala", options.env ?? process.env) : undefined;
  if (nala) {
    const args = ["install", "--assume-yes", "--no-install-recommends", "--raw-dpkg", ...names];
    options.onProgress?.(`nala install ${names.join(" ")}`);
    const result = await run(nala, args, "nala-install", timeouts.installMs);
    options.signal?.throwIfAborted();
    if (result.ok) return { installer: "nala", listsUpdated, durationMs: performance.now() - started };
    options.logger.warn({ exitCode: result.exitCode }, "nala install failed; falling back to apt-get");
  }

  const args = ["install", "-y", "--no-install-recommends", ...lock, ...names];
  options.onProgress?.(`apt-get install ${names.join(" ")}`);
  let result = await run("apt-get", args, "apt-get-install", timeouts.installMs);
  options.signal?.throwIfAborted();
  if (!result.ok && !listsUpdated && !result.timedOut && NOT_FOUND.test(`${result.stdout}\n${result.stderr}`)) {
    await update();
    options.onProgress?.(`apt-get install ${names.join(" ")} (again, with fresh package lists)`);
    result = await run("apt-get", args, "apt-get-install", timeouts.installMs);
    options.signal?.throwIfAborted();
  }
  if (!result.ok) throw aptError(`apt-get install of ${names.join(", ")}`, ["apt-get", ...args], result);
  return { installer: "apt-get", listsUpdated, durationMs: performance.now() - started };
}

function aptError(what: string, command: string[], result: SubprocessResult): DependencyInstallError {
  const why = result.spawnError ?? (result.timedOut ? "timed out" : `exit ${result.exitCode}`);
  const output = `${result.stdout}\n${result.stderr}`.trim();
  const errors = output
    .split("\n")
    .filter((l) => /^(E:|Err:|W:)/.test(l.trim()))
    .map((l) => l.trim());
  const message = errors.length > 0 ? [...new Set(errors)].slice(0, 8).join("\n") : (output.split("\n").pop() ?? "");
  return new DependencyInstallError(`${what} failed (${why}):\n${message}`, {
    tool: "apt-get",
    command,
    exitCode: result.exitCode,
    outputTail: tailLines(output, 30),
  });
}
