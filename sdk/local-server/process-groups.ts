/**
 * Worker process groups: each worker leads its own group (spawned detached), which holds its
 * Python child and anything else it starts, so one kill reaches them all. Being detached,
 * workers no longer get the terminal's Ctrl-C or hang-up: the process hooks here kill every
 * registered owner's groups when this process ends.
 */
import type { ChildProcess } from "node:child_process";

/** Process groups exist on POSIX only; elsewhere a worker is spawned and killed as one process. */
export const GROUPS = process.platform !== "win32";

/** Something that holds worker groups and can kill them all at once. */
export interface GroupOwner {
  killAll(): void;
}

/**
 * Sends `signal` to the worker's process group (or to the worker alone where there are no
 * groups). A group already gone (ESRCH) is fine; anything else is returned for the caller to log.
 */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): Error | undefined {
  const pid = child.pid;
  if (pid === undefined) return undefined;
  if (!GROUPS) {
    child.kill(signal);
    return undefined;
  }
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") return err as Error;
  }
  return undefined;
}

/** The worker process and its pipes stop keeping this process alive. */
export function detachWorker(child: ChildProcess): void {
  child.unref();
  (child.stdout as { unref?: () => void } | null)?.unref?.();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  (child.stdio[3] as { unref?: () => void } | null)?.unref?.();
}

/**
 * Owners with workers, and the process hooks that kill their groups when this process ends.
 * One set of hooks for all owners, so that "is anyone else handling this signal" is answered
 * about the embedding program, not about other owners.
 */
const activeOwners = new Set<GroupOwner>();
const HANGUP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function killAllGroups(): void {
  for (const owner of activeOwners) owner.killAll();
}

/**
 * A signal that would end this process by its default action (nobody else listens) would leave
 * the detached workers running: kill them, then let the signal do what it would have done.
 * When the program handles the signal itself, it decides; if it then exits, the exit hook runs.
 */
function onProcessSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  killAllGroups();
  removeProcessHooks();
  process.kill(process.pid, signal);
}

let hooksInstalled = false;
function installProcessHooks(): void {
  if (hooksInstalled || !GROUPS) return;
  hooksInstalled = true;
  process.on("exit", killAllGroups);
  for (const signal of HANGUP_SIGNALS) process.on(signal, onProcessSignal);
}

function removeProcessHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off("exit", killAllGroups);
  for (const signal of HANGUP_SIGNALS) process.off(signal, onProcessSignal);
}

/** The owner has started a worker: its groups die with this process. */
export function watchGroups(owner: GroupOwner): void {
  activeOwners.add(owner);
  installProcessHooks();
}

/** The owner has no workers left; the hooks go once no owner has any. */
export function unwatchGroups(owner: GroupOwner): void {
  activeOwners.delete(owner);
  if (activeOwners.size === 0) removeProcessHooks();
}
