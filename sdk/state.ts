/**
 * `.ferry/resources.json`: which endpoint each resource name was deployed as, per target, with
 * the hash of the settings it was deployed with. And the lock files that serialize deploys of
 * one name across processes.
 *
 * Writes go to a temporary file renamed over the old one, so a reader never sees half a file.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { acquireFileLock, type FileLock } from "../protocol/file-lock.ts";
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

/**
 * Runs `fn` holding `<stateDir>/locks/<name>.lock` (`protocol/file-lock.ts`), so that two deploys
 * of one name, in this process or another, do not both create an endpoint. A lock whose process
 * died on this host is taken over at once; one nobody refreshed for ten minutes, from anywhere.
 */
export async function withFileLock<T>(stateDir: string, name: string, fn: () => Promise<T>, timeoutMs = 10 * 60_000): Promise<T> {
  const path = join(stateDir, "locks", `${name.replace(/[^A-Za-z0-9_.-]/g, "_")}.lock`);
  const signal = AbortSignal.timeout(timeoutMs);
  let lock: FileLock;
  try {
    lock = await acquireFileLock(path, { signal });
  } catch (error) {
    if (signal.aborted) throw new ProvisioningError(`timed out waiting for the deploy lock ${path}; delete it if no deploy is running`);
    throw error;
  }
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
