/**
 * The control side of one remote call: what is submitted, and how the caller's abort and
 * timeout stop it. Abort and timeout reject the caller's promise at once; the job is cancelled
 * through `/cancel/{id}`, and when the abort comes while the submission is still held (its id
 * not known yet), the cancel follows its answer.
 */
import type { FunctionRequestInput } from "../protocol/wire.ts";
import type { LogHandler } from "./call-logs.ts";
import { CancelledError, FerryError, RemoteTimeoutError } from "./errors.ts";
import type { ProgressHandler } from "./progress/events.ts";
import { isFinalStatus, type EndpointClient, type JobStatus, type RunRequest } from "./transport.ts";

/** Extra time the endpoint's execution limit allows beyond `timeoutMs`, so the worker's own timeout (with traceback) comes first. */
const ENDPOINT_TIMEOUT_GRACE_MS = 10_000;

export interface CallControlOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  onLog?: LogHandler | false | undefined;
  /** Where the call's progress events go: a handler, or false for nowhere. Default: this console's status line. */
  onProgress?: ProgressHandler | false | undefined;
}

export interface InvokeSpec {
  /** The endpoint, provisioned on first use. */
  endpoint: () => Promise<EndpointClient>;
  input: FunctionRequestInput;
  options: CallControlOptions;
  /** `embed`, `Model.generate`: names the call in log prefixes. */
  label: string;
}

/** Abort and timeout for one call, as one internal signal and the error each becomes. */
export class CallControl {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly onUserAbort: () => void;
  jobId: string | undefined;

  constructor(private readonly options: CallControlOptions) {
    this.onUserAbort = () => this.controller.abort({ kind: "abort", reason: options.signal?.reason });
    if (options.signal?.aborted) this.onUserAbort();
    else options.signal?.addEventListener("abort", this.onUserAbort, { once: true });
    if (options.timeoutMs !== undefined && !this.controller.signal.aborted) {
      this.timer = setTimeout(() => this.controller.abort({ kind: "timeout" }), options.timeoutMs);
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  error(): FerryError {
    const reason = this.controller.signal.reason as { kind?: string; reason?: unknown } | undefined;
    if (reason?.kind === "timeout") return new RemoteTimeoutError({ timeoutMs: this.options.timeoutMs, jobId: this.jobId, enforcedBy: "client" });
    return new CancelledError({ jobId: this.jobId, reason: reason?.reason });
  }

  /** `promise`, or this call's error as soon as it is aborted; an abandoned promise goes to `onAbandoned`. */
  race<T>(promise: Promise<T>, onAbandoned: (promise: Promise<T>) => void): Promise<T> {
    if (this.signal.aborted) {
      onAbandoned(promise);
      return Promise.reject(this.error());
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        onAbandoned(promise);
        reject(this.error());
      };
      this.signal.addEventListener("abort", onAbort, { once: true });
      promise.then(
        (value) => {
          this.signal.removeEventListener("abort", onAbort);
          if (!this.signal.aborted) resolve(value);
        },
        (error: unknown) => {
          this.signal.removeEventListener("abort", onAbort);
          if (!this.signal.aborted) reject(error);
        },
      );
    });
  }

  /**
   * Submits the job (`submission`, e.g. `/run`) under this call's abort: the answer, or the
   * call's error; a submission abandoned while held is cancelled once its answer names the job.
   */
  async submit(client: EndpointClient, submission: Promise<JobStatus>): Promise<JobStatus> {
    const status = await this.race(submission, (pending) => cancelWhenKnown(client, pending));
    this.jobId = status.id;
    return status;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.options.signal?.removeEventListener("abort", this.onUserAbort);
  }
}

/** Cancels a job whose submission the caller stopped waiting for, once its id is known. */
function cancelWhenKnown(client: EndpointClient, pending: Promise<JobStatus>): void {
  pending.then(
    (status) => {
      if (status.id && !isFinalStatus(status.status)) cancelQuietly(client, status.id);
    },
    () => undefined,
  );
}

/** Asks the endpoint to cancel a job the caller no longer waits for; the call has already ended, so a failure here changes nothing. */
export function cancelQuietly(client: EndpointClient, jobId: string): void {
  client.cancel(jobId).catch(() => undefined);
}

/**
 * The job body. With `timeoutMs`, the worker stops the Python call at that limit too (a call
 * that cannot be reached by the client's cancel still ends), and the endpoint's execution
 * limit is set a little beyond it as the last resort.
 */
export function runRequest(input: FunctionRequestInput, timeoutMs: number | undefined): RunRequest {
  if (timeoutMs === undefined) return { input };
  return { input: { ...input, timeout_ms: timeoutMs }, policy: { executionTimeout: Math.max(5_000, timeoutMs + ENDPOINT_TIMEOUT_GRACE_MS) } };
}
