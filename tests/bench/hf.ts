/**
 * Figure group 6 (issue 8): Hugging Face cache-ahead of a 200 MB repo from a local hub
 * server (in its own process) beside a plain HTTP download of the same bytes from the same
 * server, to the same disk; and the cached check (the snapshot already complete).
 */
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { silentLogger } from "../../protocol/logger.ts";
import type { BenchGroup } from "./lib/figures.ts";
import { REPO_ROOT } from "./lib/engine-jobs.ts";
import { spawnTracked, stopProcess } from "./lib/processes.ts";
import { fmt, mibPerSecond, sample, summarize, withTimeout } from "./lib/stats.ts";

type HfModule = typeof import("../../handler/hf/index.ts");

interface HubInfo {
  url: string;
  repo: string;
  files: Array<{ path: string; size: number; plainUrl: string }>;
}

async function plainDownload(hub: HubInfo, dir: string): Promise<void> {
  await Promise.all(
    hub.files.map(async (f) => {
      const res = await fetch(f.plainUrl);
      if (!res.ok || !res.body) throw new Error(`plain download of ${f.path}: HTTP ${res.status}`);
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(join(dir, f.path.replace(/\//g, "_"))));
    }),
  );
}

export const hfGroup: BenchGroup = {
  key: "hf",
  title: "Hugging Face cache-ahead: 200 MB repo vs a plain HTTP download",
  budgetMs: 75_000,
  figures: [
    { id: "hf.download", name: "Cache-ahead of a 200 MB repo from a local hub (MB/s)", goal: "≥ 70% of the plain download" },
    { id: "hf.cached", name: "Cache-ahead when the snapshot is already cached", goal: "p50 ≤ 5 ms" },
  ],
  async run(ctx) {
    let hf: HfModule;
    try {
      hf = await import("../../handler/hf/index.ts");
      if (typeof hf.cacheModels !== "function") throw new Error("cacheModels is not exported");
      await import("../helpers/fake-hf-hub.ts");
    } catch (error) {
      const reason = `handler/hf or tests/helpers/fake-hf-hub.ts does not load: ${(error as Error).message.split("\n")[0]}`;
      for (const f of hfGroup.figures) ctx.skip(f.id, reason);
      return;
    }
    // @huggingface/hub prints "Downloading <file> to <path>" with console.debug; keep it off the table.
    const debug = console.debug;
    console.debug = () => undefined;
    ctx.cleanup(() => (console.debug = debug));
    const totalMiB = ctx.quick ? 16 : 200;
    const hubProcess = spawnTracked(process.execPath, ["--import", "tsx", join(REPO_ROOT, "tests/bench/lib/hub-process.ts"), String(totalMiB), "4"], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "inherit"],
    });
    ctx.cleanup(() => stopProcess(hubProcess, 2_000));
    const hub = await withTimeout(
      new Promise<HubInfo>((resolve, reject) => {
        let text = "";
        hubProcess.stdout!.setEncoding("utf8").on("data", (s: string) => {
          text += s;
          const line = text.split("\n")[0];
          if (text.includes("\n") && line) resolve(JSON.parse(line) as HubInfo);
        });
        hubProcess.once("exit", (code) => reject(new Error(`the hub process exited (${code}) before listening`)));
      }),
      60_000,
      "the local hub's start",
    );
    const bytes = hub.files.reduce((sum, f) => sum + f.size, 0);
    const root = mkdtempSync(join(tmpdir(), "ferry-bench-hf-"));
    ctx.cleanup(() => rmSync(root, { recursive: true, force: true }));

    let n = 0;
    const fresh = () => {
      const dir = join(root, `run-${++n}`);
      return dir;
    };
    const cacheAhead = async () => {
      const cacheDir = fresh();
      const t = performance.now();
      const report = await hf.cacheModels([hub.repo], { logger: silentLogger(), cacheDir, hubUrl: hub.url, env: {}, progressIntervalMs: 60_000 });
      const ms = performance.now() - t;
      if (report.bytesDownloaded !== bytes) throw new Error(`cache-ahead downloaded ${report.bytesDownloaded} of ${bytes} bytes`);
      rmSync(cacheDir, { recursive: true, force: true });
      return ms;
    };
    const plain = async () => {
      const dir = fresh();
      (await import("node:fs")).mkdirSync(dir, { recursive: true });
      const t = performance.now();
      await plainDownload(hub, dir);
      const ms = performance.now() - t;
      rmSync(dir, { recursive: true, force: true });
      return ms;
    };

    const runs = ctx.quick ? 1 : 3;
    const cacheTimes: number[] = [];
    const plainTimes: number[] = [];
    for (let i = 0; i < runs; i++) {
      plainTimes.push(await plain());
      cacheTimes.push(await cacheAhead());
    }
    const rate = summarize(cacheTimes.map((ms) => mibPerSecond(bytes, ms)));
    const plainRate = summarize(plainTimes.map((ms) => mibPerSecond(bytes, ms)));
    const fraction = rate.max / plainRate.max;
    ctx.report("hf.download", {
      value: rate.max,
      unit: "MB/s",
      stats: rate,
      floor: { name: `plain HTTP download of the same ${fmt(bytes / 1024 / 1024)} MB from the same server to the same disk (fetch, files in parallel)`, value: plainRate.max, unit: "MB/s", stats: plainRate },
      met: fraction >= 0.7,
      note: `best of ${runs} each, alternating; ${hub.files.length} files (LFS), a fresh cache directory per run; the hub runs in a process of its own.`,
      limit: `cache-ahead took ${fmt(Math.min(...cacheTimes))} ms against ${fmt(Math.min(...plainTimes))} ms: the hub's metadata requests (model info, tree), writing blobs under .incomplete names then renaming, and the snapshot links and manifest.`,
    });

    // The cached check: the same call once the snapshot is complete.
    const cacheDir = fresh();
    const made = await hf.cacheModels([hub.repo], { logger: silentLogger(), cacheDir, hubUrl: hub.url, env: {} });
    const snapshot = made.models[0]?.snapshotPath;
    if (!snapshot) throw new Error("cache-ahead reported no snapshot path");
    const { readdir, stat } = await import("node:fs/promises");
    const statAll = async () => {
      for (const name of await readdir(snapshot)) await stat(join(snapshot, name));
    };
    const statFloor = summarize(await sample(statAll, { warmup: 5, iterations: ctx.quick ? 50 : 500, budgetMs: ctx.quick ? 300 : 1_500 }));
    const cached = await sample(
      async () => {
        const report = await hf.cacheModels([hub.repo], { logger: silentLogger(), cacheDir, hubUrl: hub.url, env: {} });
        if (report.bytesDownloaded !== 0 || !report.models[0]?.fromCache) throw new Error("the cached check downloaded");
      },
      { warmup: 5, iterations: ctx.quick ? 50 : 500, budgetMs: ctx.quick ? 500 : 3_000 },
    );
    const cachedStats = summarize(cached);
    ctx.report("hf.cached", {
      value: cachedStats.p50,
      unit: "ms",
      stats: cachedStats,
      met: cachedStats.p50 <= 5,
      floor: { name: "listing the snapshot folder and a stat of each file in it (fs/promises)", value: statFloor.p50, unit: "ms", stats: statFloor },
      note: `answered from the disk alone (ref, manifest, one stat per file); ${hub.files.length} files.`,
      limit: `${fmt(cachedStats.p50)} ms for the ref, the manifest and ${hub.files.length} stats.`,
    });
  },
};
