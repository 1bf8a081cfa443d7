/**
 * The O_EXCL lock file: waiting on a held lock wakes on its removal, a lock without an owner
 * (Python's filelock leaves empty files) is judged by age and by the progress of the file it
 * guards, a holder refreshes its lock and learns when it lost it, and separate processes
 * (real child processes) take turns, one taking over at once what a killed one left.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { watch } from "node:fs";
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
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

const HOLDER = join(import.meta.dirname, "fixtures", "lock-holder.ts");

/** A lock-holder process and the lines it printed, in order. */
function holder(path: string): { child: ChildProcess; lines: string[]; line: (pattern: RegExp) => Promise<string>; exited: Promise<void> } {
  // Node itself with tsx's loader (not the tsx launcher, which runs the script in a child of
  // its own): the process signalled is the one holding the lock.
  const child = spawn(process.execPath, ["--import", "tsx", HOLDER, path], { stdio: ["pipe", "pipe", "inherit"] });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (text) => {
    lines.push(text);
    for (const w of waiters.filter((w) => w.pattern.test(text))) w.resolve(text);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = (pattern: RegExp) =>
    new Promise<string>((resolve) => {
      const already = lines.find((l) => pattern.test(l));
      if (already) resolve(already);
      else waiters.push({ pattern, resolve });
    });
  return { child, lines, line, exited };
}

describe("blob lock files", () => {
  it("a waiter wakes when the holder releases, without waiting for a re-check", { timeout: 60_000 }, async () => {
    // The holder is another process: callers in this process take turns before the file.
    const path = join(work, "a", "x.lock");
    const first = holder(path);
    try {
      const firstPid = (await first.line(/^held /)).split(" ")[1];
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
      expect(waitedFor).toBe(`pid ${firstPid} on ${(await import("node:os")).hostname()}`);
      first.child.stdin!.write("release\n");
      await first.line(/^released$/);
      const lock = await second;
      expect(lock).not.toBeNull();
      expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: process.pid });
      await lock!.release();
      await expect(stat(path)).rejects.toThrow();
    } finally {
      first.child.kill("SIGKILL");
    }
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

describe("owners that name only their host", () => {
  it("a dead pid on this host is taken over at once; on another host the lock holds", { timeout: 10_000 }, async () => {
    const path = join(work, "host-only", "x.lock");
    const deadPid = 2 ** 22 + 12345;
    await acquireFileLock(path).then((l) => l.release());

    await writeFile(path, JSON.stringify({ pid: deadPid, host: "some-other-host" }));
    let waitedFor = "";
    const elsewhere = await acquireFileLock(path, { pollMs: 20, isDone: async () => waitedFor !== "", onWait: (h) => (waitedFor = h) });
    expect(elsewhere).toBeNull();
    expect(waitedFor).toBe(`pid ${deadPid} on some-other-host`);

    await writeFile(path, JSON.stringify({ pid: deadPid, host: (await import("node:os")).hostname() }));
    const lock = await acquireFileLock(path, { signal: AbortSignal.timeout(5_000) });
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: process.pid });
    await lock.release();
  });
});

describe("waiters in one process", () => {
  it("never hold one lock at once, however their looks and writes interleave", { timeout: 30_000 }, async () => {
    const path = join(work, "one-process.lock");
    let holders = 0;
    let most = 0;
    let turns = 0;
    // Many rounds of eight contenders: a waiter that reads this pid in a lock whose holder has
    // created it but not yet recorded it must wait, not take it for a leftover of this process.
    for (let round = 0; round < 25; round++) {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const lock = await acquireFileLock(path, { pollMs: 5 });
          holders++;
          most = Math.max(most, holders);
          turns++;
          await new Promise((resolve) => setImmediate(resolve));
          holders--;
          await lock.release();
        }),
      );
    }
    expect(turns).toBe(200);
    expect(most).toBe(1);
  });
});

describe("lock files across processes", () => {
  it("a second process waits while the first holds the lock, and takes it once released", { timeout: 60_000 }, async () => {
    const path = join(work, "xproc", "x.lock");
    const first = holder(path);
    const firstPid = (await first.line(/^held /)).split(" ")[1];
    const second = holder(path);
    try {
      expect(await second.line(/^waiting /)).toBe(`waiting pid ${firstPid} on ${(await import("node:os")).hostname()}`);
      expect(second.lines.some((l) => l.startsWith("held"))).toBe(false);
      first.child.stdin!.write("release\n");
      await first.line(/^released$/);
      const secondPid = (await second.line(/^held /)).split(" ")[1];
      expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: Number(secondPid) });
      second.child.stdin!.write("release\n");
      await Promise.all([first.exited, second.exited]);
      await expect(stat(path)).rejects.toThrow();
    } finally {
      first.child.kill("SIGKILL");
      second.child.kill("SIGKILL");
    }
  });

  it("a lock left by a killed process is taken over at once, long before it would go stale", { timeout: 60_000 }, async () => {
    const path = join(work, "killed", "x.lock");
    const killed = holder(path);
    const killedPid = (await killed.line(/^held /)).split(" ")[1];
    expect(killedPid).toBe(String(killed.child.pid));
    killed.child.kill("SIGKILL");
    await killed.exited;
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: Number(killedPid) });

    // Ten minutes to go stale, twenty seconds to give up: only the dead pid can end the wait in time.
    const lock = await acquireFileLock(path, { staleMs: 10 * 60_000, signal: AbortSignal.timeout(20_000) });
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ pid: process.pid });
    await lock.release();
  });
});
