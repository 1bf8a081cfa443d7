/**
 * Every process a benchmark starts goes through here, so the runner can end each one by its
 * id (and its process group) when a group finishes, fails, times out, or the run is stopped.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

const live = new Set<ChildProcess>();

/** Spawns in its own process group (so grandchildren, e.g. a worker's Python child, die with it). */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  live.add(child);
  child.once("exit", () => live.delete(child));
  child.once("error", () => live.delete(child));
  return child;
}

/** Resolves when the process has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 2_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child, "SIGKILL"); // its group may still hold children
    return;
  }
  const done = exited(child);
  killGroup(child, "SIGTERM");
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), graceMs);
  await done;
  clearTimeout(timer);
  killGroup(child, "SIGKILL");
}

/** Ends every tracked process still running (by id, with its group). */
export async function stopAllTracked(): Promise<void> {
  await Promise.all([...live].map((c) => stopProcess(c, 1_000)));
}

/** Synchronous last resort on exit. */
export function killAllTrackedSync(): void {
  for (const child of live) killGroup(child, "SIGKILL");
}

export function trackedCount(): number {
  return live.size;
}

/** VmRSS of a process in KiB, from /proc/<pid>/status (null when it is gone). */
export function residentKiB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** Direct children of a process, from /proc/<pid>/task/<tid>/children. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/** Runs a command to its end; resolves with its time (ms from spawn to exit), code and output. */
export async function timedRun(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  const started = performance.now();
  const child = spawnTracked(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (t: string) => (stdout += t));
  child.stderr?.setEncoding("utf8").on("data", (t: string) => (stderr += t));
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const timer = setTimeout(() => void stopProcess(child, 500), options.timeoutMs ?? 60_000);
  const { code } = await exited(child);
  const ms = performance.now() - started;
  clearTimeout(timer);
  await closed; // the pipes are drained
  return { ms, code, stdout, stderr };
}
