/**
 * What a finished job means to the caller: a job's final status becomes the call's outcome
 * (result still encoded, timings, worker, instance) or the error it stands for.
 */
import { FunctionResponseSchema, type FunctionResponse } from "../protocol/wire.ts";
import { emitCapturedStdout, sourceLabel, type LogHandler } from "./call-logs.ts";
import { CancelledError, FerryError, RemoteError, RemoteTimeoutError, errorFromResponse, parseJobErrorText, type ResponseLike } from "./errors.ts";
import type { JobStatus } from "./transport.ts";

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

/** The successful outcome before the value is decoded. */
export interface Outcome extends CallInfo {
  /** base64 MessagePack, or a reference to the blob output the worker wrote. */
  result: FunctionResponse["result"];
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

/**
 * {@link settle}, and the stdout the worker captured goes to `onLog` when the call's log lines
 * were not shown live (a call submitted with `/runsync` that finished within its wait).
 */
export function settleWithLogs(
  status: JobStatus,
  started: number,
  call: { label: string; timeoutMs: number | undefined; onLog: LogHandler | false | undefined },
  liveLogsShown: boolean,
): Outcome {
  const source = sourceLabel(call.label, status.workerId);
  try {
    const outcome = settle(status, started, call.timeoutMs);
    if (!liveLogsShown) emitCapturedStdout(call.onLog, outcome.stdout, outcome.jobId, source);
    return outcome;
  } catch (error) {
    if (!liveLogsShown && error instanceof RemoteError) emitCapturedStdout(call.onLog, error.stdout, error.jobId ?? "", source);
    throw error;
  }
}
