/**
 * A lock file that several processes (and hosts sharing a network volume) agree on, built on
 * what every filesystem offers: creating a file only when it does not exist (`O_EXCL`). The
 * worker locks each Hugging Face blob it writes with it, the SDK each deploy of a resource name.
 *
 * The file holds its owner: pid, host, and the kernel boot and pid namespace the pid belongs
 * to, so a pid is only checked where it means something (two containers on one host have
 * their own pid numbers; a pid seen on another host says nothing). The holder refreshes the
 * file's mtime while it works; a waiter watches the folder for the file's removal (`fs.watch`,
 * with a bounded re-check because events are lost on network filesystems and across hosts)
 * and takes over a lock whose owner is gone, or that nobody refreshed for `staleMs`.
 *
 * Why not proper-lockfile: it locks with a directory beside the path (`<path>.lock/`), which
 * Python's huggingface_hub does not see, and it learns of a dead holder only by the lock's age.
 *
 * Python's huggingface_hub locks the same paths with `filelock`: its SoftFileLock (used where
 * the filesystem has no flock) is this same `O_EXCL` protocol, so each side waits for the
 * other. Its flock-based FileLock leaves an empty file behind after release; such a file
 * (no owner in it) is judged by age alone, and a waiter's `isDone` check ends the wait as
 * soon as what the lock guarded is finished.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync, watch, type FSWatcher } from "node:fs";
import { processAlive } from "./process-alive.ts";
import { link, mkdir, open, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname } from "node:path";
import { delay } from "./abortable-sleep.ts";

export interface FileLockOptions {
  /** A lock nobody refreshed for this long is abandoned. Default 10 minutes. */
  staleMs?: number;
  /** How often the holder refreshes the lock's mtime. Default staleMs / 4, at most 30 s. */
  heartbeatMs?: number;
  /** The longest a waiter goes without looking at the lock again. Default 1 s. */
  pollMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /**
   * A file the holder writes while it works (a download's `.incomplete`): its mtime counts as
   * a refresh too, so a holder that never touches the lock (Python's) is not taken over while
   * its download advances.
   */
  progressPath?: string;
  /** Checked at each wake-up while waiting: true ends the wait with no lock (nothing left to do). */
  isDone?: () => Promise<boolean>;
  /** Called once, when the lock is first found held by someone else. */
  onWait?: (holder: string) => void;
}

export interface FileLock {
  readonly path: string;
  /** Aborts when the lock file is no longer this holder's (taken over after a stall). */
  readonly lost: AbortSignal;
  /** Stops the refreshes and removes the lock file, if it is still this holder's. */
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  host: string;
  /**
   * Kernel boot and pid namespace: where `pid` can be checked. An owner written by another tool
   * may name only its host: its pid is then checked on a host of that name.
   */
  scope: string | undefined;
  token: string;
  created: string;
}

function readOr(read: () => string, fallback: string): string {
  try {
    return read().trim();
  } catch {
    return fallback;
  }
}

const HOST = hostname();
const SCOPE = [
  HOST,
  readOr(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8"), "-"),
  readOr(() => readlinkSync("/proc/self/ns/pid"), "-"),
].join("/");

/** Lock paths this process holds now: a lock naming this pid but not listed here was left behind. */
const held = new Set<string>();

function parseOwner(text: string): Owner | null {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    if (typeof o.pid === "number" && Number.isInteger(o.pid) && o.pid > 0 && typeof o.host === "string") {
      const scope = typeof o.scope === "string" ? o.scope : undefined;
      return { pid: o.pid, host: o.host, scope, token: String(o.token ?? ""), created: String(o.created ?? "?") };
    }
  } catch {
    // Not a lock of this format (Python's filelock leaves empty files).
  }
  return null;
}

async function mtimeMs(path: string | undefined): Promise<number> {
  if (!path) return 0;
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return 0;
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

type Inspection = { state: "gone" } | { state: "held"; holder: string } | { state: "stale"; ino: number; raw: string; why: string };

async function inspect(path: string, staleMs: number, progressPath: string | undefined): Promise<Inspection> {
  let raw: string;
  let ino: number;
  let lockMtime: number;
  try {
    const s = await stat(path);
    ino = s.ino;
    lockMtime = s.mtimeMs;
    raw = await readFile(path, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") return { state: "gone" };
    throw err;
  }
  const owner = parseOwner(raw);
  if (owner && (owner.scope === SCOPE || (owner.scope === undefined && owner.host === HOST))) {
    // Only a lock this module wrote (it has a scope) can be one this process forgot.
    if (owner.scope === SCOPE && owner.pid === process.pid && !held.has(path)) return { state: "stale", ino, raw, why: "left by this process" };
    if (!processAlive(owner.pid)) return { state: "stale", ino, raw, why: `pid ${owner.pid} has exited` };
  }
  const lastSign = Math.max(lockMtime, await mtimeMs(progressPath));
  const idleMs = Date.now() - lastSign;
  if (idleMs > staleMs) return { state: "stale", ino, raw, why: `not refreshed for ${Math.round(idleMs / 1000)} s` };
  return { state: "held", holder: owner ? `pid ${owner.pid} on ${owner.host}` : "another program" };
}

/**
 * Removes the stale lock judged by `seen`, unless it changed meanwhile: the file is first moved
 * to a name of this waiter's own, so two waiters that both judged it stale cannot each remove
 * a different one (the second would delete the first's fresh lock).
 */
async function takeOver(path: string, seen: { ino: number; raw: string }, token: string): Promise<void> {
  const moved = `${path}.${token}.stale`;
  try {
    await rename(path, moved);
  } catch (err) {
    if (errno(err) === "ENOENT") return;
    throw err;
  }
  try {
    const s = await stat(moved);
    if (s.ino === seen.ino && (await readFile(moved, "utf8")) === seen.raw) return;
    // Someone took the lock between the look and the move: give it back, unless a third
    // waiter already made a new one (then that holder finds its lock gone and stops).
    await link(moved, path).catch(() => undefined);
  } finally {
    await rm(moved, { force: true });
  }
}

class Wakeups {
  private pending = false;
  private wake: AbortController | null = null;
  private readonly watcher: FSWatcher | null;

  constructor(dir: string, name: string) {
    let watcher: FSWatcher | null = null;
    try {
      watcher = watch(dir, { persistent: false }, (_event, file) => {
        // Some platforms give no file name: any change in the folder is worth a look.
        if (!file || file.toString() === name) this.poke();
      });
      // A watcher that fails (too many watches, a filesystem without events) leaves the re-checks.
      watcher.on("error", () => undefined);
    } catch {
      watcher = null;
    }
    this.watcher = watcher;
  }

  private poke(): void {
    this.pending = true;
    this.wake?.abort();
  }

  /** Resolves at the next change of the lock file, after `pollMs` at the latest; rejects with `signal`'s reason. */
  async next(pollMs: number, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (!this.pending) {
      const wake = new AbortController();
      this.wake = wake;
      // A listener removed after each wait, rather than AbortSignal.any: a waiter may wait many
      // times on one long-lived signal, and each combined signal would stay attached to it.
      const onAbort = () => wake.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await delay(pollMs, wake.signal);
      } finally {
        this.wake = null;
        signal?.removeEventListener("abort", onAbort);
      }
    }
    this.pending = false;
    signal?.throwIfAborted();
  }

  close(): void {
    this.watcher?.close();
  }
}

/**
 * Whether the file at `path` is still the one this holder wrote. The content is compared too:
 * a file made after this one was removed may get the same inode number, and Python's filelock
 * empties a lock file when it takes it.
 */
async function stillMine(path: string, ino: number, content: string): Promise<boolean> {
  try {
    return (await stat(path)).ino === ino && (await readFile(path, "utf8")) === content;
  } catch {
    return false;
  }
}

function startHeartbeat(path: string, ino: number, content: string, everyMs: number, lost: AbortController): NodeJS.Timeout {
  const timer = setInterval(() => {
    void (async () => {
      try {
        if (!(await stillMine(path, ino, content))) throw new Error("replaced");
        const now = new Date();
        await utimes(path, now, now);
      } catch {
        clearInterval(timer);
        lost.abort(new Error(`the lock ${path} was taken over by another process`));
      }
    })();
  }, everyMs);
  timer.unref();
  return timer;
}

/**
 * Takes the lock at `path`, waiting while a live owner holds it. Resolves to null when
 * `isDone` reports, while waiting, that there is nothing left to do.
 */
export function acquireFileLock(path: string, opts?: FileLockOptions & { isDone?: undefined }): Promise<FileLock>;
export function acquireFileLock(path: string, opts: FileLockOptions): Promise<FileLock | null>;
export async function acquireFileLock(path: string, opts: FileLockOptions = {}): Promise<FileLock | null> {
  // Callers in one process take turns before they touch the file: the file's owner names only
  // the process, so two callers of one process could not tell each other's lock from one this
  // process left behind, nor make the file protocol's look-then-act steps atomic between them.
  const ahead = turns.get(path);
  if (ahead) opts.onWait?.(`pid ${process.pid} on ${HOST}`);
  const previous = ahead ?? Promise.resolve();
  let passTurn!: () => void;
  const turn = new Promise<void>((resolve) => (passTurn = resolve));
  const queued = previous.then(() => turn);
  turns.set(path, queued);
  const endTurn = () => {
    passTurn();
    if (turns.get(path) === queued) turns.delete(path);
  };
  try {
    await waitOrAbort(previous, opts.signal);
  } catch (error) {
    // Still in the queue: the turn passes on once the one before it ends.
    void previous.then(endTurn);
    throw error;
  }
  let lock: FileLock | null;
  try {
    // onWait is called once: already, when this caller waited for its turn.
    lock = await acquireFileLockInTurn(path, ahead ? { ...opts, onWait: undefined } : opts);
  } catch (error) {
    endTurn();
    throw error;
  }
  if (!lock) {
    endTurn();
    return null;
  }
  const fileLock = lock;
  return {
    path: fileLock.path,
    lost: fileLock.lost,
    async release() {
      try {
        await fileLock.release();
      } finally {
        endTurn();
      }
    },
  };
}

/** Each path's queue of this process's callers: resolves when the last one queued is done. */
const turns = new Map<string, Promise<void>>();

function waitOrAbort(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

async function acquireFileLockInTurn(path: string, opts: FileLockOptions): Promise<FileLock | null> {
  const staleMs = opts.staleMs ?? 10 * 60_000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(10, Math.min(30_000, staleMs / 4));
  const pollMs = opts.pollMs ?? 1000;
  const token = randomBytes(8).toString("hex");
  await mkdir(dirname(path), { recursive: true });
  // Watching starts before the first look, so a removal between a look and the wait still wakes it.
  const wakeups = new Wakeups(dirname(path), basename(path));
  let announced = false;
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      const owner: Owner = { pid: process.pid, host: HOST, scope: SCOPE, token, created: new Date().toISOString() };
      const content = JSON.stringify(owner);
      let ino: number | undefined;
      try {
        const handle = await open(path, "wx");
        try {
          await handle.writeFile(content);
          ino = (await handle.stat()).ino;
        } finally {
          await handle.close();
        }
      } catch (err) {
        if (errno(err) !== "EEXIST") throw err;
      }
      if (ino !== undefined) {
        held.add(path);
        const lost = new AbortController();
        const heartbeat = startHeartbeat(path, ino, content, heartbeatMs, lost);
        let released = false;
        return {
          path,
          lost: lost.signal,
          async release() {
            if (released) return;
            released = true;
            clearInterval(heartbeat);
            held.delete(path);
            // Gone, or taken over: then nothing of this holder's is left to remove.
            if (await stillMine(path, ino, content)) await rm(path, { force: true });
          },
        };
      }

      const seen = await inspect(path, staleMs, opts.progressPath);
      if (seen.state === "stale") {
        await takeOver(path, seen, token);
        continue;
      }
      if (seen.state === "held") {
        if (!announced) opts.onWait?.(seen.holder);
        announced = true;
        await wakeups.next(pollMs, opts.signal);
        if (opts.isDone && (await opts.isDone())) return null;
      }
    }
  } finally {
    wakeups.close();
  }
}
