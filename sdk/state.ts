/**
 * `.ferry/resources.json`: which endpoint each resource name was deployed as, per target, with
 * the hash of the settings it was deployed with. And the lock files that serialize deploys of
 * one name across processes.
 *
 * Writes go to a temporary file renamed over the old one, so a reader never sees half a file.
 */
import { randomBytes } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ProvisioningError } from "./errors.ts";
import type { TargetKind } from "./target.ts";

export const StateEntrySchema = z.object({
  endpointId: z.string(),
  /** Hash of the endpoint input the user's settings produce (resources.ts `configHash`). */
  hash: z.string(),
  kind: z.string(),
  image: z.string().optional(),
  deployedAt: z.string(),
  updatedAt: z.string(),
});
export type StateEntry = z.infer<typeof StateEntrySchema>;

const StateFileSchema = z.object({
  version: z.literal(1),
  targets: z.record(z.string(), z.record(z.string(), StateEntrySchema)),
});
type StateFile = z.infer<typeof StateFileSchema>;

export class ResourceState {
  readonly file: string;
  constructor(readonly stateDir: string) {
    this.file = join(stateDir, "resources.json");
  }

  async read(): Promise<StateFile> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, targets: {} };
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ProvisioningError(`${this.file} is not valid JSON; fix or delete it (endpoints are found again by name on the next deploy)`);
    }
    const parsed = StateFileSchema.safeParse(json);
    if (!parsed.success) throw new ProvisioningError(`${this.file} has an unexpected shape (${parsed.error.issues[0]?.message}); fix or delete it`);
    return parsed.data;
  }

  async entries(target: TargetKind): Promise<Record<string, StateEntry>> {
    return (await this.read()).targets[target] ?? {};
  }

  async get(target: TargetKind, name: string): Promise<StateEntry | undefined> {
    return (await this.entries(target))[name];
  }

  /** Read-modify-write under the state lock, so deploys of different names do not lose each other's entries. */
  async update(target: TargetKind, name: string, entry: StateEntry | undefined): Promise<void> {
    await withFileLock(this.stateDir, "__state__", async () => {
      const state = await this.read();
      const forTarget = { ...(state.targets[target] ?? {}) };
      if (entry) forTarget[name] = entry;
      else delete forTarget[name];
      state.targets[target] = forTarget;
      await mkdir(this.stateDir, { recursive: true });
      const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
      await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
      await rename(tmp, this.file);
    });
  }
}

interface LockOwner {
  pid: number;
  host: string;
  at: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const inProcess = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding `<stateDir>/locks/<name>.lock`. Within a process, holders of one name queue
 * on a promise chain; across processes, the file is created exclusively, and a waiter wakes
 * when the lock directory changes. A lock left by a process that died on this host is taken over.
 */
export async function withFileLock<T>(stateDir: string, name: string, fn: () => Promise<T>, timeoutMs = 10 * 60_000): Promise<T> {
  const dir = join(stateDir, "locks");
  const path = join(dir, `${name.replace(/[^A-Za-z0-9_.-]/g, "_")}.lock`);
  const previous = inProcess.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = previous.then(() => mine);
  inProcess.set(path, chained);
  await previous;
  try {
    await mkdir(dir, { recursive: true });
    await acquire(dir, path, timeoutMs);
    try {
      return await fn();
    } finally {
      await rm(path, { force: true });
    }
  } finally {
    release();
    if (inProcess.get(path) === chained) inProcess.delete(path);
  }
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const handle = await open(path, "wx");
    const owner: LockOwner = { pid: process.pid, host: hostname(), at: new Date().toISOString() };
    await handle.writeFile(JSON.stringify(owner));
    await handle.close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

async function holderIsGone(path: string): Promise<boolean> {
  try {
    const owner = JSON.parse(await readFile(path, "utf8")) as Partial<LockOwner>;
    return owner.host === hostname() && typeof owner.pid === "number" && !isAlive(owner.pid);
  } catch (error) {
    // Vanished meanwhile (free now), or still being written by its creator (held).
    return (error as NodeJS.ErrnoException).code === "ENOENT";
  }
}

async function acquire(dir: string, path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await tryCreate(path)) return;
    if (await holderIsGone(path)) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new ProvisioningError(`timed out waiting for the deploy lock ${path}; delete it if no deploy is running`);
    await changeOrLiveness(dir, Math.max(0, Math.min(2_000, deadline - Date.now())));
  }
}

/**
 * Resolves when the lock directory changes (the holder removed its file), or after `ms` so
 * the holder's liveness is checked again: a holder killed with SIGKILL removes nothing.
 */
function changeOrLiveness(dir: string, ms: number): Promise<void> {
  return new Promise((resolvePromise) => {
    let watcher: FSWatcher | undefined;
    const done = () => {
      clearTimeout(timer);
      watcher?.close();
      resolvePromise();
    };
    const timer = setTimeout(done, ms);
    try {
      watcher = watch(dir, done);
      watcher.on("error", done);
    } catch {
      // No watcher on this file system: the liveness timer alone wakes the waiter.
    }
  });
}
