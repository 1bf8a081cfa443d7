/**
 * Hugging Face cache-ahead: the models a call names are in the hub cache before user code
 * runs, in the layout Python's huggingface_hub reads, so `from_pretrained` in the child
 * (given `HF_HUB_CACHE` = {@link hubCacheDir} and `HF_HUB_OFFLINE=1`) finds them.
 */
import { z } from "zod";
import { type Logger } from "../../protocol/logger.ts";
import { redactSecrets } from "../../protocol/redaction.ts";
import { hubCacheDir } from "./cache-dir.ts";
import { repoDir } from "./cache-layout.ts";
import { findCachedSnapshot } from "./cached-check.ts";
import { createLimiter, downloadModel, type CachedModelReport, type DownloadContext } from "./download.ts";
import { ModelDownloadError, toModelDownloadError } from "./errors.ts";
import { formatModelSpec, InvalidModelSpecError, parseModelSpec, type ModelSpec } from "./model-spec.ts";
import { compileFilter } from "./patterns.ts";
import { formatBytes } from "./progress.ts";

export { hubCacheDir, RUNPOD_VOLUME_HUB_CACHE } from "./cache-dir.ts";
export { ModelDownloadError, type ModelDownloadReason } from "./errors.ts";
export { parseModelSpec, formatModelSpec, InvalidModelSpecError, type ModelSpec } from "./model-spec.ts";
export type { CachedModelReport } from "./download.ts";

export interface CacheModelsOptions {
  logger: Logger;
  /** Cancels every download; partial files stay and a later call resumes them. */
  signal?: AbortSignal;
  /** Each progress / status line, for streaming to the caller (secrets already removed). */
  onLog?: (line: string) => void;
  /** Bytes of each model so far, at the pace of the progress lines and once at its end. */
  onProgress?: (progress: { repo: string; bytesDone: number; bytesTotal: number }) => void;
  /** Default: {@link hubCacheDir} of `env`. */
  cacheDir?: string;
  /** fnmatch patterns, as huggingface_hub's `allow_patterns`: only matching files are fetched. */
  include?: string[];
  /** fnmatch patterns, as huggingface_hub's `ignore_patterns`. */
  exclude?: string[];
  /** Files downloaded at once, over all models. Default 8. */
  concurrency?: number;
  /** Where HF_TOKEN, HF_ENDPOINT and the cache variables are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The hub (or a mirror). Default: `HF_ENDPOINT`, else https://huggingface.co. */
  hubUrl?: string;
  /** Further attempts after a network failure, each resuming partial files. Default 2. */
  retries?: number;
  /** Delay before the first further attempt, doubled after each. Default 500. */
  retryDelayMs?: number;
  /** Least time between two progress lines of one model. Default 2000. */
  progressIntervalMs?: number;
  /**
   * A blob's lock file (another process downloading it) that nobody refreshed for this long is
   * taken over; a lock whose process has exited on this host is taken over at once. Default 10 minutes.
   */
  lockStaleMs?: number;
}

export interface ModelCacheReport {
  cacheDir: string;
  models: CachedModelReport[];
  bytesDownloaded: number;
  durationMs: number;
}

const optionsSchema = z.object({
  include: z.array(z.string().min(1)).optional(),
  exclude: z.array(z.string().min(1)).optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  retries: z.number().int().min(0).max(10).optional(),
  retryDelayMs: z.number().min(0).optional(),
  progressIntervalMs: z.number().min(0).optional(),
  lockStaleMs: z.number().int().min(1000).optional(),
  hubUrl: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, "must be an http(s) URL")
    .optional(),
});

/**
 * One download per repo folder at a time in this process, so a second call finds the first's
 * result in the cache; other processes are kept apart per blob, by lock files (download.ts).
 */
const repoLocks = new Map<string, Promise<void>>();

async function withRepoLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = repoLocks.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
  repoLocks.set(key, mine);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (repoLocks.get(key) === mine) repoLocks.delete(key);
  }
}

function parseSpecs(models: readonly unknown[]): ModelSpec[] {
  const seen = new Set<string>();
  const specs: ModelSpec[] = [];
  for (const raw of models) {
    let spec: ModelSpec;
    try {
      spec = parseModelSpec(raw);
    } catch (err) {
      const e = err as InvalidModelSpecError;
      // A refused id is echoed back only in part: it may be megabytes long.
      const shown = String(raw).length > 120 ? `${String(raw).slice(0, 120)}...` : String(raw);
      throw new ModelDownloadError({ repo: shown, reason: "invalid-model-id", detail: (e.reason ?? e.message).slice(0, 300), cause: err });
    }
    const key = `${spec.repo}@${spec.revision}`;
    if (!seen.has(key)) {
      seen.add(key);
      specs.push(spec);
    }
  }
  return specs;
}

/**
 * Downloads the models (`org/name` or `org/name@revision`) into the hub cache; a model whose
 * snapshot is complete there costs a few stats and no request. Throws {@link ModelDownloadError}
 * (the first failure; the other models' downloads stop, their partial files stay for a retry).
 */
export async function cacheModels(models: readonly string[], opts: CacheModelsOptions): Promise<ModelCacheReport> {
  const started = performance.now();
  const env = opts.env ?? process.env;
  const specs = parseSpecs(models);
  const parsed = optionsSchema.safeParse({
    include: opts.include,
    exclude: opts.exclude,
    concurrency: opts.concurrency,
    retries: opts.retries,
    retryDelayMs: opts.retryDelayMs,
    progressIntervalMs: opts.progressIntervalMs,
    lockStaleMs: opts.lockStaleMs,
    hubUrl: opts.hubUrl ?? (env.HF_ENDPOINT?.trim() || undefined),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelDownloadError({
      repo: specs.map((s) => s.repo).join(", ") || "-",
      reason: "invalid-options",
      detail: `invalid cache-ahead option ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`,
    });
  }
  const o = parsed.data;
  const cacheDir = opts.cacheDir ?? hubCacheDir(env);
  const token = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim() || undefined;
  const select = compileFilter({ include: o.include, exclude: o.exclude });
  const logger = opts.logger;

  const emit: DownloadContext["emit"] = (level, line, fields) => {
    const clean = redactSecrets(line, env);
    logger[level]({ component: "hf-cache", ...fields }, clean);
    opts.onLog?.(clean);
    if (typeof fields?.bytesDone === "number" && typeof fields.bytesTotal === "number" && typeof fields.model === "string") {
      opts.onProgress?.({ repo: fields.model, bytesDone: fields.bytesDone, bytesTotal: fields.bytesTotal });
    }
  };

  if (specs.length === 0) return { cacheDir, models: [], bytesDownloaded: 0, durationMs: 0 };

  const stopAll = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stopAll.signal]) : stopAll.signal;
  const ctx: DownloadContext = {
    cacheDir,
    hubUrl: o.hubUrl?.replace(/\/+$/, ""),
    token,
    select,
    limit: createLimiter(o.concurrency ?? 8),
    logger,
    emit,
    signal,
    retries: o.retries ?? 2,
    retryDelayMs: o.retryDelayMs ?? 500,
    progressIntervalMs: o.progressIntervalMs ?? 2000,
    lockStaleMs: o.lockStaleMs ?? 10 * 60_000,
  };

  const one = async (spec: ModelSpec): Promise<CachedModelReport> => {
    const t0 = performance.now();
    const model = formatModelSpec(spec);
    const fromCache = async (): Promise<CachedModelReport | null> => {
      const hit = await findCachedSnapshot(cacheDir, spec, select);
      if (!hit) return null;
      const how =
        hit.resolvedBy === "pinned"
          ? `pinned commit ${hit.commit}`
          : `${spec.revision} as cached (commit ${hit.commit}); the hub was not asked whether ${spec.revision} moved, pin a commit (${spec.repo}@<sha>) to choose one`;
      emit("info", `hf ${model}: in the cache, ${hit.files.length} files, ${formatBytes(hit.bytes)}: ${how}`, {
        model,
        commit: hit.commit,
        cached: true,
      });
      return {
        model,
        repo: spec.repo,
        revision: spec.revision,
        commit: hit.commit,
        snapshotPath: hit.snapshotPath,
        fromCache: true,
        files: hit.files.length,
        bytesTotal: hit.bytes,
        filesDownloaded: 0,
        filesResumed: 0,
        bytesDownloaded: 0,
        durationMs: performance.now() - t0,
      };
    };
    const errCtx = { repo: spec.repo, revision: spec.revision, tokenProvided: Boolean(token), signal };
    try {
      const cached = await fromCache();
      if (cached) return cached;
      // Another call in this process may be downloading the same repo: wait, then look again.
      return await withRepoLock(repoDir(cacheDir, spec.repo), async () => (await fromCache()) ?? (await downloadModel(spec, ctx)));
    } catch (err) {
      throw toModelDownloadError(err, errCtx);
    }
  };

  let failure: ModelDownloadError | undefined;
  const settled = await Promise.allSettled(
    specs.map((spec) =>
      one(spec).catch((err: unknown) => {
        // The first failure is the one reported; the other models stop (their partial files stay).
        failure ??= err as ModelDownloadError;
        stopAll.abort();
        throw err;
      }),
    ),
  );
  if (failure) {
    emit("warn", `hf: ${failure.message}`, { model: failure.repo, reason: failure.reason });
    throw failure;
  }
  const reports = settled.map((s) => (s as PromiseFulfilledResult<CachedModelReport>).value);
  return {
    cacheDir,
    models: reports,
    bytesDownloaded: reports.reduce((sum, r) => sum + r.bytesDownloaded, 0),
    durationMs: performance.now() - started,
  };
}
