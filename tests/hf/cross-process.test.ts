/**
 * Separate processes caching the same model into one cache (workers sharing a network volume):
 * each blob is written by one of them under its lock file, the others wait and link it, and a
 * lock left by a killed process is taken over at once.
 *
 * The file bodies pass through a gate in front of the fake hub, closed until the test has seen
 * what it needs (a process waiting on another's lock, a process holding one), so the processes
 * overlap for certain rather than by timing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { cacheModels, type ModelCacheReport } from "../../handler/hf/index.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { startFakeHfHub, type FakeHfHub } from "../helpers/fake-hf-hub.ts";
import { smallModelFiles } from "./fixtures.ts";
import { verifyWithPython, writeSources } from "./python-verify.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const SCRIPT = join(import.meta.dirname, "fixtures", "cache-model.ts");
const WAITING = /is being downloaded by pid \d+ on /;

let hub: FakeHfHub;
let work: string;

beforeAll(async () => {
  // The library prints each file it starts to stdout; keep test output readable.
  vi.spyOn(console, "debug").mockImplementation(() => undefined);
  hub = await startFakeHfHub();
  work = await mkdtemp(join(tmpdir(), "ferry-hf-xproc-"));
});
afterAll(async () => {
  vi.restoreAllMocks();
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

interface Gate {
  url: string;
  /** Resolves once at least `n` file bodies are held at the gate. */
  holding(n: number): Promise<void>;
  open(): void;
  close(): Promise<void>;
}

/** A proxy to the hub that holds file-body requests until opened; metadata passes at once. */
async function startGate(target: string): Promise<Gate> {
  const queue: (() => void)[] = [];
  const watchers: { n: number; resolve: () => void }[] = [];
  let opened = false;
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const upstream = request(`${target}${req.url ?? "/"}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  };
  const server = createServer((req, res) => {
    const body = req.method === "GET" && (req.url ?? "").includes("/resolve/") && req.headers.range !== "bytes=0-0";
    if (!body || opened) return forward(req, res);
    let gone = false;
    res.on("close", () => (gone = true));
    // A client killed while held never reaches the hub: its request is not counted there.
    queue.push(() => (gone ? undefined : forward(req, res)));
    for (const w of watchers.filter((x) => queue.length >= x.n)) w.resolve();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holding: (n) => (queue.length >= n ? Promise.resolve() : new Promise((resolve) => watchers.push({ n, resolve }))),
    open() {
      opened = true;
      for (const release of queue.splice(0)) release();
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

interface Cacher {
  child: ChildProcess;
  logs: string[];
  /** Resolves at the first log line matching `re`; rejects if the process ends first. */
  logged(re: RegExp): Promise<string>;
  /** The process's report; rejects when it fails. */
  done: Promise<ModelCacheReport>;
}

/** `tsx fixtures/cache-model.ts` in a process group of its own (tsx runs node as its child). */
function spawnCacher(cacheDir: string, hubUrl: string, model: string): Cacher {
  const child = spawn(TSX, [SCRIPT, cacheDir, hubUrl, model], { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const logs: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  let report: ModelCacheReport | undefined;
  let error: string | undefined;
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (!line.startsWith("{")) return;
    const msg = JSON.parse(line) as { log?: string; report?: ModelCacheReport; error?: string };
    if (msg.log !== undefined) {
      logs.push(msg.log);
      for (const l of listeners) l(msg.log);
    }
    if (msg.report) report = msg.report;
    if (msg.error) error = msg.error;
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const done = exited.then((code) => {
    if (code === 0 && report) return report;
    throw new Error(`cache-model.ts exited with ${code}: ${error ?? ""} ${stderr.slice(-2000)}`);
  });
  done.catch(() => undefined);
  return {
    child,
    logs,
    done,
    logged: (re) =>
      new Promise<string>((resolve, reject) => {
        const hit = logs.find((l) => re.test(l));
        if (hit) return resolve(hit);
        listeners.push((l) => re.test(l) && resolve(l));
        void exited.then(() => reject(new Error(`the process ended without logging ${re}: ${logs.join(" | ")} ${stderr.slice(-2000)}`)));
      }),
  };
}

/** File bodies the hub served, per path. */
function bodiesByPath(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of hub.requests) {
    if (r.method !== "GET" || !r.path.includes("/resolve/") || r.range === "bytes=0-0") continue;
    counts.set(r.path, (counts.get(r.path) ?? 0) + 1);
  }
  return counts;
}

async function leftovers(cacheDir: string, repo: string): Promise<string[]> {
  const folder = `models--${repo.replace("/", "--")}`;
  const locks = await readdir(join(cacheDir, ".locks", folder)).catch(() => [] as string[]);
  const blobs = await readdir(join(cacheDir, folder, "blobs"));
  return [...locks, ...blobs.filter((n) => n.endsWith(".incomplete"))];
}

describe("cache-ahead from several processes into one cache", () => {
  it("two processes caching the same model at once fetch each file once, and both succeed", { timeout: 30_000 }, async () => {
    const files = smallModelFiles("xproc");
    const { commit } = hub.addRepo("acme/shared", files);
    const cacheDir = await mkdtemp(join(work, "shared-"));
    const gate = await startGate(hub.url);
    const a = spawnCacher(cacheDir, gate.url, "acme/shared");
    const b = spawnCacher(cacheDir, gate.url, "acme/shared");
    try {
      hub.resetRequests();
      // Whichever process reaches the files second finds the first one's locks held. Without
      // the locks both would ask for the same files: more bodies held than the model has.
      await Promise.race([a.logged(WAITING), b.logged(WAITING), gate.holding(Object.keys(files).length + 1)]);
      gate.open();
      const [ra, rb] = await Promise.all([a.done, b.done]);
      expect([...a.logs, ...b.logs].some((l) => WAITING.test(l))).toBe(true);

      for (const [path, n] of bodiesByPath()) expect(n, path).toBe(1);
      expect(bodiesByPath().size).toBe(Object.keys(files).length);
      const total = Object.values(files).reduce((s, c) => s + Buffer.byteLength(c), 0);
      expect(ra.models[0]!.bytesDownloaded + rb.models[0]!.bytesDownloaded).toBe(total);
      expect(ra.models[0]!.filesDownloaded + rb.models[0]!.filesDownloaded).toBe(Object.keys(files).length);
      for (const r of [ra, rb]) expect(r.models[0]).toMatchObject({ commit, snapshotPath: join(cacheDir, "models--acme--shared", "snapshots", commit) });

      await verifyWithPython(cacheDir, { repo: "acme/shared", revision: "main", commit, files: await writeSources(join(work, "src-shared"), files) });
      expect(await leftovers(cacheDir, "acme/shared")).toEqual([]);
    } finally {
      for (const c of [a, b]) if (c.child.exitCode === null) process.kill(-c.child.pid!, "SIGKILL");
      await gate.close();
    }
  });

  it("a lock left by a killed process is taken over at once", { timeout: 30_000 }, async () => {
    const files = smallModelFiles("killed");
    const { commit } = hub.addRepo("acme/killed", files);
    const cacheDir = await mkdtemp(join(work, "killed-"));
    const gate = await startGate(hub.url);
    const a = spawnCacher(cacheDir, gate.url, "acme/killed");
    try {
      // A holds the lock of each file it asked the hub for.
      await gate.holding(1);
      const lockDir = join(cacheDir, ".locks", "models--acme--killed");
      const locks = (await readdir(lockDir)).filter((n) => n.endsWith(".lock"));
      expect(locks.length).toBeGreaterThan(0);
      const owner = JSON.parse(await readFile(join(lockDir, locks[0]!), "utf8")) as { pid: number; created: string };
      expect(owner.pid).toBeGreaterThan(0);
      expect(Number.isNaN(Date.parse(owner.created))).toBe(false);

      process.kill(-a.child.pid!, "SIGKILL");
      await a.done.catch(() => undefined);
      expect((await readdir(lockDir)).filter((n) => n.endsWith(".lock")).length).toBeGreaterThan(0);
      gate.open();
      hub.resetRequests();

      const lines: string[] = [];
      const started = performance.now();
      const report = await cacheModels(["acme/killed"], { logger: silentLogger(), cacheDir, hubUrl: hub.url, onLog: (l) => lines.push(l) });
      // Taken over on the first look: no wait for a re-check, let alone the 10-minute bound.
      expect(lines.filter((l) => WAITING.test(l))).toEqual([]);
      expect(performance.now() - started).toBeLessThan(5000);
      expect(report.models[0]).toMatchObject({ commit, fromCache: false, filesDownloaded: Object.keys(files).length });
      for (const [path, n] of bodiesByPath()) expect(n, path).toBe(1);

      await verifyWithPython(cacheDir, { repo: "acme/killed", revision: "main", commit, files: await writeSources(join(work, "src-killed"), files) });
      expect(await leftovers(cacheDir, "acme/killed")).toEqual([]);
    } finally {
      if (a.child.exitCode === null && a.child.signalCode === null) process.kill(-a.child.pid!, "SIGKILL");
      await gate.close();
    }
  });
});
