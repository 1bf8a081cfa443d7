/**
 * RunPod's job vocabulary, as its endpoint API and worker protocol define it: statuses, which
 * of them are final, body and chunk limits, how long `/runsync` may wait and how long results
 * are kept. The SDK's client, the local server and the worker's own local API all read these,
 * so an emulator and a client cannot disagree about the platform they stand for.
 */

export const JOB_STATUSES = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const FINAL_STATUSES = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"] as const satisfies readonly JobStatus[];
export type FinalStatus = (typeof FINAL_STATUSES)[number];

const FINAL_SET: ReadonlySet<string> = new Set(FINAL_STATUSES);

/** A job in a final status never changes again. Accepts any string, since statuses arrive over HTTP. */
export function isFinalStatus(status: string): status is FinalStatus {
  return FINAL_SET.has(status);
}

export const MiB = 1024 * 1024;

/** Request body caps of RunPod's endpoint API. */
export const RUN_BODY_LIMIT_BYTES = 10 * MiB;
export const RUNSYNC_BODY_LIMIT_BYTES = 20 * MiB;
/** One stream chunk (`{"output": chunk}` as JSON) may be at most this large. */
export const STREAM_CHUNK_LIMIT_BYTES = MiB;

/** `/runsync?wait=`: RunPod's default and the bounds it clamps to (milliseconds). */
export const RUNSYNC_WAIT_DEFAULT_MS = 90_000;
export const RUNSYNC_WAIT_MIN_MS = 1_000;
export const RUNSYNC_WAIT_MAX_MS = 300_000;

export function clampRunsyncWait(ms: number): number {
  return Math.round(Math.min(RUNSYNC_WAIT_MAX_MS, Math.max(RUNSYNC_WAIT_MIN_MS, ms)));
}

/** How long a finished job's result can still be read: 30 minutes after `/run`, 1 after `/runsync`. */
export const RUN_RETENTION_MS = 30 * 60_000;
export const RUNSYNC_RETENTION_MS = 60_000;

/** `policy.executionTimeout` when a request names none. */
export const DEFAULT_EXECUTION_TIMEOUT_MS = 600_000;
