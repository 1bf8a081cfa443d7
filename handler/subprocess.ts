/**
 * The one way the worker starts a subprocess (pip, uv, apt-get, dpkg-query, nvidia-smi...).
 *
 * Never through a shell: the command and each argument go to the kernel as they are, so user
 * strings cannot be interpreted. Each output line is logged at debug, tagged with the
 * operation. A timeout kills the whole process group (pip spawns build backends, apt spawns
 * dpkg) and the process is awaited, so nothing is left unreaped. A non-zero exit is a result,
 * not an exception.
 */
import { execa } from "execa";
import type { Logger } from "../protocol/logger.ts";
import { silentLogger } from "../protocol/logger.ts";

export interface SubprocessOptions {
  /** What this run is for, e.g. "pip-install"; tags every log line. */
  operation: string;
  timeoutMs?: number;
  /** Added to (and overriding) the worker's environment. */
  env?: NodeJS.ProcessEnv;
  /** Use exactly this environment instead of extending the worker's. */
  replaceEnv?: boolean;
  cwd?: string;
  logger?: Logger;
  /** Text written to the process's stdin. */
  input?: string;
  signal?: AbortSignal;
}

export interface SubprocessResult {
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  /** Set when the command could not be started at all (e.g. ENOENT). */
  spawnError?: string;
}

/** After SIGTERM to the group, how long the tree gets before SIGKILL. */
const KILL_GRACE_MS = 2_000;

function lineLogger(logger: Logger, operation: string, stream: "stdout" | "stderr") {
  return function* (line: unknown) {
    logger.debug({ operation, stream }, String(line));
    yield line;
  };
}

/**
 * Process groups of subprocesses still running. Each lives in its own group (so a timeout can
 * take the whole tree), which also means it would outlive this process: on exit, they go too.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function trackGroup(pid: number | undefined): void {
  if (!pid) return;
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const group of liveGroups) killGroup(group, "SIGKILL");
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

export async function runLoggedSubprocess(
  command: string,
  args: readonly string[],
  options: SubprocessOptions,
): Promise<SubprocessResult> {
  const logger = options.logger ?? silentLogger();
  const started = performance.now();
  logger.debug({ operation: options.operation, command, args }, "subprocess start");

  const child = execa(command, args, {
    reject: false,
    shell: false,
    detached: true, // own process group, so a timeout can kill the whole tree
    cleanup: true,
    cwd: options.cwd,
    env: options.env,
    extendEnv: !options.replaceEnv,
    input: options.input,
    stdin: options.input === undefined ? "ignore" : "pipe",
    stdout: [lineLogger(logger, options.operation, "stdout")],
    stderr: [lineLogger(logger, options.operation, "stderr")],
    stripFinalNewline: true,
    encoding: "utf8",
  });

  trackGroup(child.pid);
  let timedOut = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stopTree = () => {
    killGroup(child.pid, "SIGTERM");
    graceTimer = setTimeout(() => killGroup(child.pid, "SIGKILL"), KILL_GRACE_MS);
    graceTimer.unref();
  };
  const timer =
    options.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          stopTree();
        }, options.timeoutMs)
      : undefined;
  const onAbort = () => stopTree();
  options.signal?.addEventListener("abort", onAbort, { once: true });

  const result = await child;
  if (timer) clearTimeout(timer);
  if (graceTimer) clearTimeout(graceTimer);
  options.signal?.removeEventListener("abort", onAbort);
  // A process that exited can leave grandchildren in its group; they go with it.
  killGroup(child.pid, "SIGKILL");
  if (child.pid) liveGroups.delete(child.pid);

  const durationMs = performance.now() - started;
  const joined = (v: unknown) => (Array.isArray(v) ? v.join("\n") : typeof v === "string" ? v : "");
  const spawnError = result.failed && result.exitCode === undefined && !result.signal && !timedOut ? result.shortMessage : undefined;
  const out: SubprocessResult = {
    ok: !result.failed && result.exitCode === 0 && !timedOut,
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    stdout: joined(result.stdout),
    stderr: joined(result.stderr),
    durationMs,
    timedOut,
    ...(spawnError ? { spawnError } : {}),
  };
  logger.debug(
    { operation: options.operation, exitCode: out.exitCode, signal: out.signal, timedOut, durationMs: Math.round(durationMs) },
    "subprocess end",
  );
  return out;
}

/** The last `n` lines of a process's output, for error messages. */
export function tailLines(text: string, n = 20): string {
  const lines = text.split("\n");
  return lines.slice(Math.max(0, lines.length - n)).join("\n");
}
