/**
 * The worker runtime's public types: what a job handler receives and what startWorker accepts.
 */
import type { Logger } from "../../protocol/logger.ts";

/** A job as RunPod hands it out: `id`, `input`, and whatever else the platform adds. */
export interface RunpodJob {
  id: string;
  input: unknown;
  [key: string]: unknown;
}

export interface JobContext {
  /** Aborts when the job is cancelled (`/job-stop/`, local `/cancel`) or the worker shuts down hard. */
  signal: AbortSignal;
  /** Tagged with the job id. */
  logger: Logger;
  workerId: string;
  /**
   * A progress update: the job stays IN_PROGRESS and its status shows `output` until the result
   * (RunPod's `progress_update`: job-done with `{"status": "IN_PROGRESS", "output": ...}` and
   * `isStream=false`). Failures to post are logged, never thrown.
   */
  progress(output: unknown): Promise<void>;
  /**
   * How the result is posted: `isStream=true` closes a stream, as runpod-python posts it after a
   * generator handler; `false` posts a plain result. The default is whether the handler is a
   * generator; a generator handler whose job is not a stream (it yields only live progress for a
   * call that is not a generator) sets false.
   */
  setStreamResult(isStream: boolean): void;
}

/** What the runtime supplies to run a job; executeJob adds the rest of the JobContext. */
export type JobContextBase = Pick<JobContext, "signal" | "logger" | "workerId">;

/**
 * A promise handler's value is the job's output. An async generator's yielded values are
 * streamed; its return value (when not undefined) is the job's final output.
 */
export type JobHandler = (job: RunpodJob, ctx: JobContext) => Promise<unknown> | AsyncGenerator<unknown, unknown>;

/** A fixed number of jobs in flight, or RunPod's modifier: `(current) => wanted`, consulted on every take. */
export type Concurrency = number | ((current: number) => number);

/** Timing constants; production uses the defaults, tests shrink them. */
export interface WorkerTiming {
  /** How long a job-take or job-stop long poll may be held by the server. */
  longPollTimeoutMs: number;
  /** Wait after a 429 answer. */
  rateLimitWaitMs: number;
  /** First backoff delay after an unexpected error; doubles up to backoffMaxMs, with jitter. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * A job-take or job-stop poll that answered "nothing" faster than this was not held as a long
   * poll (400 with FlashBoot, a proxy answering 204 at once): the next poll waits first.
   */
  quickEmptyPollMs: number;
  /** That wait: starts here, doubles per quick empty answer up to the max, with jitter. */
  quickEmptyPollBaseMs: number;
  quickEmptyPollMaxMs: number;
  /** Attempts for a job-done or stream post (retried on 5xx and network errors, never 4xx; see http.ts). */
  postAttempts: number;
  postRetryDelayMs: number;
  postTimeoutMs: number;
  /** With a concurrency modifier, how often a full worker asks it again. */
  concurrencyRecheckMs: number;
}

export const DEFAULT_TIMING: WorkerTiming = {
  longPollTimeoutMs: 90_000,
  rateLimitWaitMs: 5_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  quickEmptyPollMs: 100,
  quickEmptyPollBaseMs: 5,
  quickEmptyPollMaxMs: 1_000,
  postAttempts: 3,
  postRetryDelayMs: 500,
  postTimeoutMs: 30_000,
  concurrencyRecheckMs: 1_000,
};

export type WorkerMode = "api" | "test" | "worker" | "none";

export interface StartWorkerOptions {
  handler: JobHandler;
  /** Default 1. */
  concurrency?: Concurrency;
  /** Generator jobs: the final output is every yielded value instead of `[]` (when the generator returns nothing). */
  returnAggregateStream?: boolean;
  /** Called once after the last job is posted, before startWorker resolves (stop the Python child here). */
  onShutdown?: () => void | Promise<void>;
  /** Default `process.argv.slice(2)`. */
  argv?: readonly string[];
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Where `test_input.json` is looked for. Default `process.cwd()`. */
  cwd?: string;
  /** Aborting it stops the worker like SIGTERM does (for embedding and tests). */
  stopSignal?: AbortSignal;
  /** Listen for SIGTERM/SIGINT. Default true. */
  handleSignals?: boolean;
  fetch?: typeof fetch;
  timing?: Partial<WorkerTiming>;
  /** Local API mode: called once the server listens (useful with `--rp_api_port 0`). */
  onListening?: (address: { host: string; port: number }) => void;
}

export interface WorkerExit {
  mode: WorkerMode;
  /** What the process should exit with; startWorker never calls process.exit itself. */
  exitCode: number;
}
