/**
 * A job of the local server as the store keeps it, the views answered for it, and the results a
 * worker reports. The store (`job-store.ts`) is the only writer of a job's fields.
 */
import type { FinalStatus, JobStatus } from "../../protocol/runpod-jobs.ts";

export type { FinalStatus, JobStatus };

export interface JobPolicy {
  executionTimeoutMs: number;
  ttlMs: number;
  lowPriority: boolean;
}

export type JobMode = "run" | "runsync";

export interface Job {
  readonly id: string;
  readonly endpointId: string;
  readonly input: unknown;
  readonly webhook: string | undefined;
  readonly policy: JobPolicy;
  readonly mode: JobMode;
  status: JobStatus;
  readonly createdAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  /** Deleted at this time: `ttl` after submission while running, the retention once final. */
  expiresAt: number;
  hasOutput: boolean;
  output: unknown;
  error: string | undefined;
  workerId: string | undefined;
  /** Partial outputs posted to job-stream; `/stream` hands out those past `streamCursor`. */
  stream: unknown[];
  streamCursor: number;
  /** A final output is handed to `/stream` as one chunk when the job streamed nothing. */
  finalChunkSent: boolean;
  /** Times the job went back to the queue because its worker was lost. */
  workerLosses: number;
}

export interface JobView {
  id: string;
  status: JobStatus;
  delayTime: number;
  executionTime?: number;
  output?: unknown;
  error?: string;
  workerId?: string;
}

export interface JobCounts {
  completed: number;
  failed: number;
  inProgress: number;
  inQueue: number;
  retried: number;
}

export type WorkerResult =
  | { kind: "final"; hasOutput: boolean; output?: unknown; error?: string }
  | { kind: "progress"; output: unknown };

export type ResultOutcome = "ok" | "not-found" | "not-held" | "already-final";

/** A running job must stop on the worker that holds it. */
export interface StopEvent {
  endpointId: string;
  workerId: string;
  jobId: string;
}

/** The fields of a job that a run fills in, as they are before its first run (or a retry). */
export function freshRun(now: number, ttlMs: number) {
  return {
    startedAt: undefined,
    finishedAt: undefined,
    expiresAt: now + ttlMs,
    hasOutput: false,
    output: undefined,
    error: undefined,
    workerId: undefined,
    stream: [],
    streamCursor: 0,
    finalChunkSent: false,
    workerLosses: 0,
  };
}

/** A job as submitted, queued and not yet run. */
export function newJob(id: string, endpointId: string, input: unknown, options: { webhook?: string; policy: JobPolicy; mode: JobMode }, now: number): Job {
  return {
    id,
    endpointId,
    input,
    webhook: options.webhook,
    policy: options.policy,
    mode: options.mode,
    status: "IN_QUEUE",
    createdAt: now,
    ...freshRun(now, options.policy.ttlMs),
  };
}

/** The job as `/status` answers it at `now`. */
export function jobView(job: Job, now: number): JobView {
  const view: JobView = { id: job.id, status: job.status, delayTime: (job.startedAt ?? job.finishedAt ?? now) - job.createdAt };
  if (job.startedAt !== undefined) view.executionTime = (job.finishedAt ?? now) - job.startedAt;
  else if (job.finishedAt !== undefined) view.executionTime = 0;
  if (job.hasOutput) view.output = job.output;
  if (job.error !== undefined) view.error = job.error;
  if (job.workerId !== undefined) view.workerId = job.workerId;
  return view;
}
