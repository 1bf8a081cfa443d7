/**
 * Downloading one model's snapshot into the hub cache with @huggingface/hub.
 *
 * The library's `snapshotDownload` is the same loop as below (`modelInfo` for the commit,
 * `listFiles`, `downloadFileToCacheDir` per file), but it fetches every file one after the
 * other, has no include/exclude patterns and no progress, and writes `refs/<revision>` before
 * any file. So the loop is here, and each file still goes through the library's
 * `downloadFileToCacheDir`, which writes the layout Python reads (`blobs/<etag>` via
 * `.incomplete` and a rename, relative symlinks in `snapshots/<commit>/`).
 *
 * Several processes may cache the same model into one cache at once (workers sharing a
 * network volume). Each blob is written under its lock file (`.locks/<repo folder>/<etag>.lock`,
 * the path Python's huggingface_hub locks); a process that finds the blob complete, before or
 * after waiting, only links it.
 */
import { mkdir, rm, stat } from "node:fs/promises";
import { downloadFileToCacheDir, fileDownloadInfo, listFiles, modelInfo } from "@huggingface/hub";
import { acquireFileLock } from "../../protocol/file-lock.ts";
import type { Logger } from "../../protocol/logger.ts";
import { retry } from "../../protocol/retry.ts";
import {
  assertInside,
  blobLockPath,
  blobPath,
  COMMIT,
  incompletePath,
  linkPointer,
  pointerPath,
  snapshotDir,
  writeManifest,
  writeRef,
  type ManifestFile,
} from "./cache-layout.ts";
import { IncompleteFileError, InvalidHubResponseError, ModelDownloadError, toModelDownloadError, type ErrorContext } from "./errors.ts";
import { createHubFetch } from "./hub-fetch.ts";

/** Where @huggingface/hub goes when no hub URL (HF_ENDPOINT) is given. */
const DEFAULT_HUB_URL = "https://huggingface.co";
import { formatModelSpec, type ModelSpec } from "./model-spec.ts";
import { formatBytes, ModelProgress } from "./progress.ts";
import { partialSize, resumePartialBlob } from "./resume.ts";

export interface CachedModelReport {
  /** The spec as given, canonical: `org/name` or `org/name@revision`. */
  model: string;
  repo: string;
  revision: string;
  commit: string;
  /** `snapshots/<commit>` in the cache: what `snapshot_download` returns in Python. */
  snapshotPath: string;
  /** Answered from the cache alone, with no request to the hub. */
  fromCache: boolean;
  files: number;
  bytesTotal: number;
  filesDownloaded: number;
  filesResumed: number;
  bytesDownloaded: number;
  durationMs: number;
}

export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** At most `n` tasks at once; a finished task hands its slot straight to the next waiter. */
export function createLimiter(n: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

export interface DownloadContext {
  cacheDir: string;
  hubUrl: string | undefined;
  token: string | undefined;
  select: (path: string) => boolean;
  limit: Limiter;
  logger: Logger;
  emit: (level: "info" | "warn", line: string, fields?: Record<string, unknown>) => void;
  signal: AbortSignal;
  retries: number;
  retryDelayMs: number;
  progressIntervalMs: number;
  /** A blob lock nobody refreshed for this long is taken over. */
  lockStaleMs: number;
}

async function presentWithSize(path: string, size: number): Promise<boolean> {
  try {
    const s = await stat(path);
    return s.isFile() && s.size === size;
  } catch {
    return false;
  }
}

/**
 * `fn` with up to `ctx.retries` more tries on a transient failure (the hub's 5xx and 429, a
 * broken connection), doubling `ctx.retryDelayMs` between them; every failure surfaces as a
 * ModelDownloadError. Each request is a read or a resumable write into the cache, so repeating
 * it is harmless.
 */
async function withRetries<T>(
  what: string,
  fn: () => Promise<T>,
  ctx: DownloadContext,
  errCtx: ErrorContext,
  model: string,
): Promise<T> {
  const mapped = (err: unknown) => toModelDownloadError(err, errCtx);
  return retry(
    () =>
      fn().catch((err: unknown) => {
        throw mapped(err);
      }),
    {
      retries: ctx.retries,
      idempotent: true,
      backoff: { baseMs: ctx.retryDelayMs, maxMs: Number.POSITIVE_INFINITY, jitter: "none" },
      classify: (err) => (mapped(err).transient ? "maybe-taken" : "permanent"),
      signal: ctx.signal,
      onRetry: ({ error, attempt, attempts, delayMs }) =>
        ctx.emit("warn", `hf ${model}: ${what} failed (${mapped(error).reason}); attempt ${attempt + 1} of ${attempts} in ${delayMs} ms`),
    },
  ).catch((err: unknown) => {
    throw mapped(err);
  });
}

/** Downloads what the cache lacks of one model's snapshot, then records it as complete. */
export async function downloadModel(spec: ModelSpec, ctx: DownloadContext): Promise<CachedModelReport> {
  const started = performance.now();
  const model = formatModelSpec(spec);
  const repo = { type: "model" as const, name: spec.repo };
  // One file failing for good stops the model's other downloads (their partial files stay).
  const failFast = new AbortController();
  const signal = AbortSignal.any([ctx.signal, failFast.signal]);
  const hub = createHubFetch({ token: ctx.token, hubUrl: ctx.hubUrl ?? DEFAULT_HUB_URL, signal });
  const errCtx: ErrorContext = {
    repo: spec.repo,
    revision: spec.revision,
    tokenProvided: Boolean(ctx.token),
    errorCodeFor: hub.errorCodeFor,
    signal: ctx.signal,
  };
  const common = { hubUrl: ctx.hubUrl, fetch: hub.fetch };

  const info = await withRetries(
    "resolving the revision",
    () => modelInfo({ ...common, name: spec.repo, revision: spec.revision, additionalFields: ["sha"] }),
    ctx,
    errCtx,
    model,
  );
  const commit = COMMIT.parse(info.sha);

  const listing = await withRetries(
    "listing files",
    async () => {
      const entries: ManifestFile[] = [];
      for await (const entry of listFiles({ ...common, repo, recursive: true, revision: commit })) {
        if (entry.type !== "file") continue;
        const etag = entry.lfs?.oid ?? entry.xetHash ?? entry.oid;
        if (!etag) throw new InvalidHubResponseError(`no oid listed for ${entry.path}`);
        entries.push({ path: entry.path, size: entry.lfs?.size ?? entry.size, etag });
      }
      return entries;
    },
    ctx,
    errCtx,
    model,
  );

  const selected = listing.filter((f) => ctx.select(f.path));
  if (selected.length === 0) {
    ctx.emit("warn", `hf ${model}: the include/exclude patterns select none of its ${listing.length} files`);
  }
  const presence = await Promise.all(
    selected.map(async (f) => ({ file: f, present: await presentWithSize(pointerPath(ctx.cacheDir, spec.repo, commit, f.path), f.size) })),
  );
  const todo = presence.filter((p) => !p.present).map((p) => p.file);
  const bytesTotal = selected.reduce((sum, f) => sum + f.size, 0);
  const bytesCached = presence.filter((p) => p.present).reduce((sum, p) => sum + p.file.size, 0);
  const progress = new ModelProgress(
    model,
    bytesTotal,
    bytesCached,
    (line, s) => ctx.emit("info", line, { model, bytesDone: s.bytesDone, bytesTotal: s.bytesTotal }),
    ctx.progressIntervalMs,
  );
  ctx.emit(
    "info",
    `hf ${model}: commit ${commit}, ${selected.length} files, ${formatBytes(bytesTotal - bytesCached)} to download` +
      (bytesCached > 0 ? ` (${selected.length - todo.length} files, ${formatBytes(bytesCached)} already cached)` : ""),
    { model, commit, files: selected.length, bytesTotal },
  );

  await mkdir(snapshotDir(ctx.cacheDir, spec.repo, commit), { recursive: true });

  // Files with the same content share one blob: downloading them at once would write the same
  // `.incomplete` twice, so each blob's files go one after the other (the later ones only link).
  const byBlob = new Map<string, ManifestFile[]>();
  for (const f of todo) byBlob.set(f.etag, [...(byBlob.get(f.etag) ?? []), f]);

  let filesResumed = 0;
  let filesFetched = 0;

  /** Writes `blob` from the hub; called with the blob's lock held, so no other process writes it. */
  const fetchBlob = async (f: ManifestFile, blob: string, incomplete: string, lost: AbortSignal): Promise<void> => {
    const fileSignal = AbortSignal.any([signal, lost]);
    let counted = 0;
    const counting = hub.withBodyCounter((n) => {
      counted += n;
      progress.add(n);
    });
    // The lock's loss (another process took it over after this one stalled) stops the transfer.
    const fileFetch: typeof fetch = (input, init) => counting(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, fileSignal]) : fileSignal });
    try {
      if ((await partialSize(incomplete)) > 0) {
        const where = await fileDownloadInfo({ ...common, fetch: fileFetch, repo, path: f.path, revision: commit });
        if (!where) throw new InvalidHubResponseError(`${f.path} is listed but has no download`);
        const had = await resumePartialBlob({
          incomplete,
          blob,
          url: where.url,
          size: f.size,
          // LFS etags are the file's sha256 (64 hex digits); git blob ids are not a plain digest.
          sha256: f.etag.length === 64 ? f.etag : undefined,
          fetch: fileFetch,
          signal: fileSignal,
          onExisting: (n) => progress.addExisting(n),
        });
        if (had > 0) filesResumed++;
      }
      await downloadFileToCacheDir({ ...common, fetch: fileFetch, repo, path: f.path, revision: commit, cacheDir: ctx.cacheDir });
      if (!(await presentWithSize(blob, f.size))) {
        // The body ended early without a transport error: the blob must not pass for complete.
        await rm(blob, { force: true });
        await rm(pointerPath(ctx.cacheDir, spec.repo, commit, f.path), { force: true });
        throw new IncompleteFileError(`${f.path}: the downloaded size differs from the listed ${f.size} bytes`);
      }
      filesFetched++;
    } catch (err) {
      // The bytes of a failed attempt stay in `.incomplete`; the next attempt counts them as existing.
      progress.rollback(counted);
      // Retried: the next attempt waits for the lock and finds the blob complete, or resumes it.
      if (lost.aborted && !ctx.signal.aborted) throw new IncompleteFileError(`${f.path}: ${(lost.reason as Error).message}`);
      throw err;
    }
  };

  const downloadFile = async (f: ManifestFile): Promise<void> => {
    const pointer = pointerPath(ctx.cacheDir, spec.repo, commit, f.path);
    const blob = blobPath(ctx.cacheDir, spec.repo, f.etag);
    const incomplete = incompletePath(ctx.cacheDir, spec.repo, f.etag);
    const lockPath = blobLockPath(ctx.cacheDir, spec.repo, f.etag);
    assertInside(ctx.cacheDir, pointer);
    assertInside(ctx.cacheDir, blob);
    assertInside(ctx.cacheDir, lockPath);
    const blobComplete = () => presentWithSize(blob, f.size);
    let fetched = false;
    if (!(await blobComplete())) {
      // Other processes (workers sharing a network volume, Python's huggingface_hub) may be
      // writing the same `.incomplete`: one writer per blob, the others wait for its result.
      const lock = await acquireFileLock(lockPath, {
        signal,
        staleMs: ctx.lockStaleMs,
        progressPath: incomplete,
        isDone: blobComplete,
        onWait: (holder) => ctx.emit("info", `hf ${model}: ${f.path} is being downloaded by ${holder}; waiting for it`, { model, file: f.path }),
      });
      if (lock) {
        try {
          // The previous holder may have finished this blob while this process waited.
          if (!(await blobComplete())) {
            await fetchBlob(f, blob, incomplete, lock.lost);
            fetched = true;
          }
        } finally {
          await lock.release();
        }
      }
    }
    if (!fetched) {
      // The blob was there already (another file, commit or process brought it): only link it.
      if (!(await presentWithSize(pointer, f.size))) await linkPointer(pointer, blob);
      progress.addExisting(f.size);
    }
    if (!(await presentWithSize(pointer, f.size))) {
      throw new IncompleteFileError(`${f.path}: the snapshot link does not lead to a blob of the listed ${f.size} bytes`);
    }
  };

  let firstFailure: unknown;
  const settled = await Promise.allSettled(
    [...byBlob.values()].map((files) =>
      ctx.limit(async () => {
        for (const f of files) {
          if (failFast.signal.aborted || ctx.signal.aborted) throw new ModelDownloadError({ repo: spec.repo, revision: spec.revision, reason: "aborted", detail: "stopped after another file failed" });
          await withRetries(`downloading ${f.path}`, () => downloadFile(f), ctx, errCtx, model);
        }
      }).catch((err: unknown) => {
        // The first failure is the cause; the others are mostly the aborts it set off.
        firstFailure ??= err;
        failFast.abort();
        throw err;
      }),
    ),
  );
  if (settled.some((s) => s.status === "rejected")) throw toModelDownloadError(firstFailure, errCtx);

  // No lock here: both files are written whole under a temporary name and renamed, and two
  // processes that got this far write the same listing, and a ref to a commit now complete.
  await writeManifest(ctx.cacheDir, { version: 1, repo: spec.repo, commit, files: listing });
  if (!spec.pinned) await writeRef(ctx.cacheDir, spec.repo, spec.revision, commit);
  progress.report("done");

  return {
    model,
    repo: spec.repo,
    revision: spec.revision,
    commit,
    snapshotPath: snapshotDir(ctx.cacheDir, spec.repo, commit),
    fromCache: false,
    files: selected.length,
    bytesTotal,
    filesDownloaded: filesFetched,
    filesResumed,
    bytesDownloaded: progress.bytesDownloaded,
    durationMs: performance.now() - started,
  };
}
