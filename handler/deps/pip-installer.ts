/**
 * Installs Python requirements into one interpreter, in one command: `uv pip install` when
 * uv is on PATH and downloads are to be accelerated, else `python -m pip install`.
 *
 * Requirements arrive guarded and in packaging's canonical form (requirement-checker.ts) and
 * go to the installer as separate arguments after `--`, so none can be read as an option.
 */
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../../protocol/logger.ts";
import { runLoggedSubprocess, tailLines, type SubprocessResult } from "../subprocess.ts";
import { DependencyInstallError } from "./errors.ts";

export type PythonInstaller = "uv" | "pip";

/** Where a RunPod network volume is mounted; caches there survive the worker. */
export const RUNPOD_VOLUME = "/runpod-volume";

/** The first executable named `command` on PATH, without starting a process. */
export function findOnPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const dir of dirs) {
    const candidate = path.join(dir, command);
    try {
      const st = statSync(candidate);
      if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** uv when it is on PATH and downloads are to be accelerated; else pip. */
export function chooseInstaller(accelerateDownloads: boolean, env: NodeJS.ProcessEnv = process.env): { installer: PythonInstaller; uv?: string } {
  const uv = accelerateDownloads ? findOnPath("uv", env) : undefined;
  return uv ? { installer: "uv", uv } : { installer: "pip" };
}

export interface PipCommandInput {
  python: string;
  requirements: readonly string[];
  installer: PythonInstaller;
  /** Path of the uv executable when installer is "uv". */
  uv?: string;
  breakSystemPackages: boolean;
}

export function pipInstallCommand(input: PipCommandInput): { command: string; args: string[] } {
  const flags = input.breakSystemPackages ? ["--break-system-packages"] : [];
  if (input.installer === "uv") {
    return { command: input.uv ?? "uv", args: ["pip", "install", "--python", input.python, ...flags, "--", ...input.requirements] };
  }
  return {
    command: input.python,
    args: ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off", ...flags, "--", ...input.requirements],
  };
}

/**
 * Environment additions for the installer: caches (UV_CACHE_DIR / PIP_CACHE_DIR as given;
 * else on the RunPod volume when one is mounted), and pip's index settings mirrored for uv,
 * which does not read PIP_*.
 */
export function installerEnvironment(env: NodeJS.ProcessEnv, runpodVolume: string = RUNPOD_VOLUME): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
    PIP_NO_INPUT: "1",
    PIP_ROOT_USER_ACTION: "ignore",
  };
  if (isDirectory(runpodVolume)) {
    if (!env.UV_CACHE_DIR) out.UV_CACHE_DIR = path.join(runpodVolume, ".cache", "uv");
    if (!env.PIP_CACHE_DIR) out.PIP_CACHE_DIR = path.join(runpodVolume, ".cache", "pip");
    // The volume is another filesystem than the venv: hard links fail, so copy outright.
    if (!env.UV_LINK_MODE && !env.UV_CACHE_DIR) out.UV_LINK_MODE = "copy";
  }
  if (env.PIP_INDEX_URL && !env.UV_INDEX_URL && !env.UV_DEFAULT_INDEX) out.UV_INDEX_URL = env.PIP_INDEX_URL;
  if (env.PIP_EXTRA_INDEX_URL && !env.UV_EXTRA_INDEX_URL && !env.UV_INDEX) out.UV_EXTRA_INDEX_URL = env.PIP_EXTRA_INDEX_URL;
  return out;
}

function isDirectory(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const COMPILER_MISSING = [
  /command '[^']*(?:gcc|cc|g\+\+|c\+\+|clang)' failed: No such file or directory/i,
  /unable to execute '[^']*(?:gcc|cc|g\+\+|c\+\+)'/i,
  /(?:gcc|cc|g\+\+|c\+\+|x86_64-linux-gnu-gcc|aarch64-linux-gnu-gcc)(?:-\d+)?: (?:command )?not found/i,
  /No such file or directory: '(?:gcc|cc|g\+\+|c\+\+)'/i,
  /error: linker `cc` not found/i,
  /No CMAKE_(?:C|CXX)_COMPILER could be found/i,
  /(?:C|C\+\+) compiler (?:cannot create executables|not found)/i,
  /Unknown compiler\(s\): \[\['(?:cc|c\+\+|gcc)'/i,
  /You need a C compiler to build/i,
];

/** Whether an installer failure is a build that found no C/C++ compiler. */
export function isCompilerMissing(output: string): boolean {
  return COMPILER_MISSING.some((re) => re.test(output));
}

/** The installer's own error lines ("ERROR: ..." for pip, "error: ..." / "×" for uv). */
export function installerMessage(result: SubprocessResult): string {
  const lines = `${result.stderr}\n${result.stdout}`.split("\n").map((l) => l.trimEnd());
  const picked = lines.filter((l) => /^(?:ERROR:|error:|\s*×|\s*╰─▶)/.test(l)).map((l) => l.trim());
  if (picked.length > 0) return [...new Set(picked)].slice(0, 8).join("\n");
  const last = lines.filter((l) => l.trim() !== "").pop();
  return last?.trim() ?? "(no output)";
}

export interface InstallPythonPackagesOptions {
  python: string;
  /** Normalized requirement strings. */
  requirements: readonly string[];
  accelerateDownloads: boolean;
  externallyManaged: boolean;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  timeoutMs?: number;
  runpodVolume?: string;
  /** Progress lines for the caller's live log. */
  onProgress?: (line: string) => void;
  /**
   * Installs a C toolchain (build-essential); called at most once, after a compiler-missing
   * failure. Resolves false when the toolchain was already there, so a retry is pointless.
   */
  installBuildTools?: () => Promise<boolean>;
}

export interface PythonInstallResult {
  installer: PythonInstaller;
  command: string[];
  durationMs: number;
  buildToolsInstalled: boolean;
}

export async function installPythonPackages(options: InstallPythonPackagesOptions): Promise<PythonInstallResult> {
  const env = options.env ?? process.env;
  const { installer, uv } = chooseInstaller(options.accelerateDownloads, env);
  const { command, args } = pipInstallCommand({
    python: options.python,
    requirements: options.requirements,
    installer,
    ...(uv ? { uv } : {}),
    breakSystemPackages: options.externallyManaged,
  });
  const childEnv = { ...(options.env ?? {}), ...installerEnvironment(env, options.runpodVolume) };
  const started = performance.now();
  let buildToolsInstalled = false;

  const run = () =>
    runLoggedSubprocess(command, args, {
      operation: `${installer}-install`,
      timeoutMs: options.timeoutMs ?? 20 * 60_000,
      logger: options.logger,
      env: childEnv,
      ...(options.signal ? { signal: options.signal } : {}),
    });

  let result = await run();
  if (!result.ok && !options.signal?.aborted && options.installBuildTools && isCompilerMissing(`${result.stdout}\n${result.stderr}`)) {
    const note = `${installer} install failed because no C compiler is installed; installing build-essential and retrying once`;
    options.logger.warn({ requirements: options.requirements }, note);
    options.onProgress?.(note);
    if (await options.installBuildTools()) {
      buildToolsInstalled = true;
      result = await run();
    } else {
      options.onProgress?.("build-essential is already installed; not retrying");
    }
  }
  options.signal?.throwIfAborted();
  if (!result.ok) {
    const why = result.spawnError ?? (result.timedOut ? "timed out" : `exit ${result.exitCode}`);
    throw new DependencyInstallError(`${installer} install of ${options.requirements.join(", ")} failed (${why}):\n${installerMessage(result)}`, {
      tool: installer,
      command: [command, ...args],
      exitCode: result.exitCode,
      outputTail: tailLines(`${result.stdout}\n${result.stderr}`.trim(), 30),
    });
  }
  return { installer, command: [command, ...args], durationMs: performance.now() - started, buildToolsInstalled };
}
