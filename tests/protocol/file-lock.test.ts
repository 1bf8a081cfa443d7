/**
 * The blob lock file on its own: waiting on a held lock wakes on its removal, a lock without
 * an owner (Python's filelock leaves empty files) is judged by age and by the progress of the
 * file it guards, and a holder refreshes its lock and learns when it lost it.
 */
import { watch } from "node:fs";
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireFileLock } from "../../protocol/file-lock.ts";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ferry-lock-"));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const HOUR_AGO = () => new Date(Date.now() - 3600_000);

describe("blob lock files", () => {
  it("a waiter wakes when the holder releases, without waiting for a re-check", { timeout: 5000 }, async () => {
    const path = join(work, "a", "x.lock");
    const first = await acquireFileLock(path);
    expect(first).not.toBeNull();
    const owner = JSON.parse(await readFile(path, "utf8")) as { pid: number };
    expect(owner.pid).toBe(process.pid);

    let waitedFor = "";
    let announced!: () => void;
    const waiting = new Promise<void>((resolve) => (announced = resolve));
    // A re-check a minute away: only the watch on the folder can end this wait in time.
    const second = acquireFileLock(path, {
      pollMs: 60_000,
      onWait: (holder) => {
        waitedFor = holder;
        announced();
      },
    });
    await waiting;
    expect(waitedFor).toBe(`pid ${process.pid} on ${(await import("node:os")).hostname()}`);
    await first!.release();
    const lock = await second;
    expect(lock).not.toBeNull();
    await lock!.release();
    await expect(stat(path)).rejects.toThrow();
  });

  it("an ownerless lock holds while fresh; the wait ends when the guarded work is done", { timeout: 5000 }, async () => {
    const path = join(work, "b", "x.lock");
    await acquireFileLock(path).then((l) => l!.release());
    await writeFile(path, "");
    let done = false;
    const result = acquireFileLock(path, {
      pollMs: 20,
      isDone: async () => done,
      onWait: (holder) => {
        expect(holder).toBe("another program");
        done = true;
      },
    });
    await expect(result).resolves.toBeNull();
    // Not this process's file: it stays.
    expect((await stat(path)).size).toBe(0);
  });

  it("an ownerless lock is taken over once neither it nor the partial file moved for staleMs", { timeout: 5000 }, async () => {
    const path = join(work, "c", "x.lock");
    const partial = join(work, "c", "blob.incomplete");
    await acquireFileLock(path).then((l) => l!.release());
    await writeFile(path, "");
    await utimes(path, HOUR_AGO(), HOUR_AGO());
    await writeFile(partial, "some bytes");

    let waited = false;
    const lock = await acquireFileLock(path, {
      staleMs: 60_000,
      pollMs: 20,
      progressPath: partial,
      onWait: () => {
        // The partial file is fresh: its writer is alive. Then it stops moving.
        waited = true;
        void utimes(partial, HOUR_AGO(), HOUR_AGO());
      },
    });
    expect(waited).toBe(true);
    expect(lock).not.toBeNull();
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: process.pid });
    await lock!.release();
  });

  it("the holder refreshes its lock, and learns when the lock was taken from it", { timeout: 5000 }, async () => {
    const path = join(work, "d", "x.lock");
    const lock = (await acquireFileLock(path, { heartbeatMs: 20 }))!;
    await utimes(path, HOUR_AGO(), HOUR_AGO());
    await new Promise<void>((resolve) => {
      const w = watch(path, () => {
        w.close();
        resolve();
      });
    });
    expect(Date.now() - (await stat(path)).mtimeMs).toBeLessThan(60_000);

    const lost = new Promise<void>((resolve) => lock.lost.addEventListener("abort", () => resolve()));
    await rm(path);
    await writeFile(path, "someone else's");
    await lost;
    await lock.release();
    expect(await readFile(path, "utf8")).toBe("someone else's");
  });
});
