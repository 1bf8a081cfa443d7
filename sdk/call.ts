/**
 * One remote call from request to result: submit, follow, cancel, map the outcome.
 *
 * A call whose logs or progress someone watches is submitted with `/run` and followed through
 * `/stream` from the start (held by the server until a chunk or the end), then `/status` for
 * the output: each log line and progress event arrives as it is produced, from the first line
 * of the call on. A call nobody watches (`onLog: false`, `onProgress: false`) is submitted with
 * `/runsync?wait=1000`, which answers a call that finishes within a second in one round trip;
 * a longer one comes back with its id and is followed the same way.
 *
 * Abort and timeout reject the caller's promise at once. The job is cancelled through
 * `/cancel/{id}`; when the abort comes while `/runsync` is still held, its id is not known yet,
 * so that request is left to answer (at most the 1 s wait) and the cancel follows it.
 */
import type { FunctionRequestInput, FunctionResponse } from "../protocol/wire.ts";
import { FunctionResponseSchema } from "../protocol/wire.ts";
import {
  CancelledError,
  FerryError,
  RemoteError,
  RemoteTimeoutError,
  errorFromResponse,
  parseJobErrorText,
  type ResponseLike,
} from "./errors.ts";
import { isFinalStatus, pause, type EndpointClient, type JobStatus, type RunRequest } from "./transport.ts";
import { emitCapturedStdout, emitLog, sourceLabel, type LogHandler } from "./call-logs.ts";
import { progressHandlerFor } from "./progress/console.ts";
import type { ProgressHandler } from "./progress/events.ts";
import { CallProgress } from "./progress/tracker.ts";
import { chunksOf } from "./stream-chunks.ts";

export { printLog, type LogHandler, type RemoteLogLine } from "./call-logs.ts";

/** How long `/runsync` holds before the call switches to following the job (RunPod's minimum). */
const RUNSYNC_WAIT_MS = 1000;
/** Extra time the endpoint's execution limit allows beyond `timeoutMs`, so the worker's own timeout (with traceback) comes first. */
const ENDPOINT_TIMEOUT_GRACE_MS = 10_000;

/** Where a call's time went, in milliseconds. */
export interface CallTimings {
  /** Waiting in the endpoint's queue. */
  queueMs?: number | undefined;
  /** pip / apt installs for this call. */
  installMs?: number | undefined;
  /** Hugging Face downloads for this call. */
  modelDownloadMs?: number | undefined;
  /** The Python call itself. */
  executeMs?: number | undefined;
  /** The worker's total for the job. */
  totalMs?: number | undefined;
  /** Measured here: from the call to its result. */
  roundTripMs: number;
}

/** How a class instance fared in a method call. */
export interface InstanceState {
  id: string;
  /** This call constructed the instance. */
  created: boolean;
  /** This call constructed it again because the worker that took the job did not hold it. */
  rebuilt: boolean;
  methodCalls: number | undefined;
}

/** What `.call()` and `.stream()` tell besides the value: job, worker, timings, stdout. */
export interface CallInfo {
  jobId: string;
  workerId: string | undefined;
  timings: CallTimings;
  /** What the Python code printed (stdout, stderr and logging), as the worker captured it. */
  stdout: string;
  instance?: InstanceState | undefined;
  details: Record<string, unknown>;
}

/** The answer of `.call()`: the value and {@link CallInfo}. */
export interface CallResult<R> extends CallInfo {
  value: R;
}

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

/** The successful outcome before the value is decoded. */
export interface Outcome extends CallInfo {
  /** base64 MessagePack, or a reference to the blob output the worker wrote. */
  result: FunctionResponse["result"];
}


/** Abort and timeout for one call, as one internal signal and the error each becomes. */
class CallControl {
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

function cancelQuietly(client: EndpointClient, jobId: string): void {
  client.cancel(jobId).catch(() => undefined);
}

/**
 * The job body. With `timeoutMs`, the worker stops the Python call at that limit too (a call
 * that cannot be reached by the client's cancel still ends), and the endpoint's execution
 * limit is set a little beyond it as the last resort.
 */
function runRequest(input: FunctionRequestInput, timeoutMs: number | undefined): RunRequest {
  if (timeoutMs === undefined) return { input };
  return { input: { ...input, timeout_ms: timeoutMs }, policy: { executionTimeout: Math.max(5_000, timeoutMs + ENDPOINT_TIMEOUT_GRACE_MS) } };
}



/** The final status as an outcome, or the error it stands for. */
export function settle(status: JobStatus, started: number, timeoutMs: number | undefined): Outcome {
  const jobId = status.id ?? "";
  const workerId = status.workerId;
  const output = status.output;
  const raw: ResponseLike | undefined = output && typeof output === "object" && !Array.isArray(output) ? (output as ResponseLike) : undefined;
  const roundTripMs = performance.now() - started;

  if (status.status === "CANCELLED") throw new CancelledError({ jobId, message: `the job was cancelled on the endpoint (job ${jobId})` });
  if (status.status === "TIMED_OUT")
    throw new RemoteTimeoutError({ jobId, timeoutMs, enforcedBy: "endpoint", message: `the endpoint stopped the job at its execution timeout (job ${jobId})`, stdout: raw?.stdout ?? "" });

  let response: ResponseLike;
  if (status.status === "FAILED") {
    // A Ferry worker's failed response reaches RunPod with `error` lifted out of the output.
    const fromError = parseJobErrorText(status.error);
    response = raw && "success" in raw ? { ...fromError, ...raw, error: raw.error ?? (typeof status.error === "string" ? status.error : fromError.error) } : fromError;
    if (raw && "success" in raw && !raw.error_type) response.error_type = fromError.error_type;
    response.success = false;
  } else if (status.status === "COMPLETED") {
    if (!raw || !("success" in raw)) {
      throw new RemoteError({
        errorType: "InvalidResponse",
        message: `the endpoint answered an output that is not a Ferry FunctionResponse (is it running Ferry's worker image?): ${JSON.stringify(output)?.slice(0, 200)}`,
        jobId,
        workerId,
      });
    }
    response = raw;
  } else {
    throw new FerryError(`job ${jobId} ended in an unknown status ${status.status}`);
  }

  const parsed = FunctionResponseSchema.safeParse(response);
  const r = parsed.success ? { ...parsed.data, error_traceback: response.error_traceback } : response;
  if (!r.success) throw errorFromResponse(r, { jobId, workerId, timeoutMs });

  const t = r.timings ?? {};
  const info = r.instance_info;
  return {
    result: r.result,
    jobId,
    workerId: workerId ?? stringOr(r.details?.worker_id),
    stdout: r.stdout ?? "",
    details: r.details ?? {},
    timings: {
      queueMs: t.queue_ms ?? status.delayTime,
      installMs: t.install_ms,
      modelDownloadMs: t.model_download_ms,
      executeMs: t.execute_ms ?? status.executionTime,
      totalMs: t.total_ms,
      roundTripMs,
    },
    instance:
      r.instance_id && info
        ? { id: r.instance_id, created: info.created ?? false, rebuilt: info.rebuilt ?? false, methodCalls: info.method_calls }
        : undefined,
  };
}

function stringOr(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A plain call: its outcome (result still encoded), or the error it ended with. */
export async function invoke(spec: InvokeSpec): Promise<Outcome> {
  const started = performance.now();
  const control = new CallControl(spec.options);
  const progress = new CallProgress(progressHandlerFor(spec.options.onProgress), spec.label, started);
  try {
    const client = await control.race(spec.endpoint(), () => undefined);
    const request = runRequest(spec.input, spec.options.timeoutMs);
    const watched = spec.options.onLog !== false || progress.enabled;
    const submit = watched ? client.run(request) : client.runsync(request, RUNSYNC_WAIT_MS);
    let status = await control.race(submit, (p) => cancelWhenKnown(client, p));
    control.jobId = progress.jobId = status.id;
    const followed = !isFinalStatus(status.status);
    if (followed) {
      const jobId = status.id;
      if (!jobId) throw new FerryError("the endpoint answered the submission without a job id");
      progress.status(status.status, client);
      try {
        // A plain call's result is in the final status (a generator's values aggregated), so values streamed on the way are not needed.
        status = await lastOf(followJob(client, jobId, control, spec, progress));
      } catch (error) {
        if (control.signal.aborted) cancelQuietly(client, jobId);
        throw error;
      }
    }
    const outcome = settleWithLogs(status, started, spec, followed);
    progress.completed(outcome.timings);
    return outcome;
  } catch (error) {
    progress.failed(error);
    throw error;
  } finally {
    progress.finish();
    control.dispose();
  }
}

function settleWithLogs(status: JobStatus, started: number, spec: InvokeSpec, liveLogsShown: boolean): Outcome {
  const source = sourceLabel(spec.label, status.workerId);
  try {
    const outcome = settle(status, started, spec.options.timeoutMs);
    if (!liveLogsShown) emitCapturedStdout(spec.options.onLog, outcome.stdout, outcome.jobId, source);
    return outcome;
  } catch (error) {
    if (!liveLogsShown && error instanceof RemoteError) emitCapturedStdout(spec.options.onLog, error.stdout, error.jobId ?? "", source);
    throw error;
  }
}

/**
 * Follows a job through `/stream` until it is final: log lines go to the handler, values are
 * yielded as they arrive, and the final status (from `/status`) is the return value. An abort
 * surfaces as the call's error (CancelledError / RemoteTimeoutError); cancelling the job on
 * the endpoint is left to the caller, which knows whether the job may still be running.
 */
async function* followJob(
  client: EndpointClient,
  jobId: string,
  control: CallControl,
  spec: InvokeSpec,
  progress: CallProgress,
): AsyncGenerator<unknown, JobStatus, undefined> {
  let quietPolls = 0;
  try {
    for (;;) {
      const asked = performance.now();
      const answer = await client.stream(jobId, control.signal);
      let got = 0;
      const values: unknown[] = [];
      for (const chunk of chunksOf(answer.stream)) {
        got++;
        if (chunk.log) emitLog(spec.options.onLog, chunk.log, sourceLabel(spec.label, chunk.log.worker_id ?? progress.workerId));
        else if (chunk.progress) progress.fromWorker(chunk.progress);
        else if ("value" in chunk) values.push(chunk.value);
      }
      progress.status(answer.status, client);
      for (const value of values) {
        progress.value();
        yield value;
        if (control.signal.aborted) throw control.error();
      }
      if (isFinalStatus(answer.status)) break;
      // A server that holds /stream answers when there is news; one that answers at once with
      // nothing gets a growing pause, so this loop never spins.
      if (got === 0 && performance.now() - asked < 50) {
        quietPolls++;
        await pause(Math.min(500, 5 * 2 ** Math.min(quietPolls, 7)), control.signal);
      } else quietPolls = 0;
    }
    return await client.status(jobId, control.signal);
  } catch (error) {
    if (control.signal.aborted) throw control.error();
    throw error;
  }
}

/** Runs a generator to its end, dropping what it yields; resolves with its return value. */
async function lastOf<R>(generator: AsyncGenerator<unknown, R, undefined>): Promise<R> {
  for (;;) {
    const step = await generator.next();
    if (step.done) return step.value;
  }
}

/** A streaming call: yields each value (still encoded) as the job produces it; returns the outcome. */
export async function* invokeStream(spec: InvokeSpec): AsyncGenerator<unknown, Outcome, undefined> {
  const started = performance.now();
  const control = new CallControl(spec.options);
  const progress = new CallProgress(progressHandlerFor(spec.options.onProgress), spec.label, started);
  let client: EndpointClient | undefined;
  let finished = false;
  try {
    client = await control.race(spec.endpoint(), () => undefined);
    const c = client;
    const submitted = await control.race(c.run(runRequest(spec.input, spec.options.timeoutMs)), (p) => cancelWhenKnown(c, p));
    if (!submitted.id) throw new FerryError("the endpoint answered /run without a job id");
    const jobId = submitted.id;
    control.jobId = progress.jobId = jobId;
    progress.status(submitted.status, c);
    const final = yield* followJob(c, jobId, control, spec, progress);
    finished = true;
    const outcome = settleWithLogs(final, started, spec, true);
    progress.completed(outcome.timings);
    return outcome;
  } catch (error) {
    progress.failed(error);
    throw error;
  } finally {
    // The consumer stopped early (break, throw) or the call was aborted: the job must not run on.
    if (!finished && client && control.jobId) {
      cancelQuietly(client, control.jobId);
      progress.failed(new CancelledError({ jobId: control.jobId, reason: "the consumer stopped reading" }));
    }
    progress.finish();
    control.dispose();
  }
}

