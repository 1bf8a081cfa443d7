/**
 * The job-done body rules of RunPod's worker protocol, and the error payload a thrown handler
 * error becomes. Pure functions: the local test mode and the local API use them too, so a job
 * reads the same everywhere.
 */
import { ErrorType } from "../../protocol/error-types.ts";
import { formatJobError, type JobErrorPayload } from "../../protocol/job-error.ts";

export interface JobDoneBody {
  output?: unknown;
  /** Always a string: the platform marks a job FAILED only for a string error. */
  error?: string;
  stopPod?: true;
}

export interface ErrorOrigin {
  hostname: string;
  workerId: string;
  version: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Python's truthiness, since the rules come from a Python library: `[]`, `{}`, `""` and `0` are false. */
export function pythonTruthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === "" || Number.isNaN(value)) {
    return false;
  }
  if (Array.isArray(value)) return value.length > 0;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

function errorText(error: unknown): string {
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * The body for a handler's (final) output: from a plain object, `error` and `refresh_worker`
 * are popped; `error` goes to the top when truthy, `stopPod: true` when `refresh_worker` is
 * truthy; an output of exactly `{}` is dropped. Anything else is `{output: value}`.
 */
export function jobDoneBody(output: unknown): JobDoneBody {
  if (!isPlainObject(output)) return { output: output === undefined ? null : output };
  const { error, refresh_worker: refreshWorker, ...rest } = output;
  const body: JobDoneBody = {};
  if (Object.keys(rest).length > 0) body.output = rest;
  // A non-string error is sent as JSON text: an object there would leave the job COMPLETED.
  if (pythonTruthy(error)) body.error = errorText(error);
  if (pythonTruthy(refreshWorker)) body.stopPod = true;
  return body;
}

export type ErrorPayload = JobErrorPayload;

function errorPayload(error: unknown, origin: ErrorOrigin): ErrorPayload {
  const isError = error instanceof Error;
  const message = isError ? error.message : typeof error === "string" ? error : errorText(error);
  return {
    error_type: isError ? error.name || error.constructor.name : typeof error,
    error_message: message,
    error_traceback: isError ? (error.stack ?? `${error.name}: ${error.message}`) : "",
    hostname: origin.hostname,
    worker_id: origin.workerId,
    runpod_version: origin.version,
  };
}

/** The body for a handler that threw: `error` is the JSON text of the error payload. */
export function errorBody(error: unknown, origin: ErrorOrigin): JobDoneBody {
  return { error: formatJobError(errorPayload(error, origin)) };
}

/**
 * The body as JSON text. An output JSON cannot encode (a BigInt, a cycle) becomes an error
 * body, so the job still ends FAILED with the reason instead of never being answered.
 */
export function serializeBody(body: JobDoneBody, origin: ErrorOrigin): string {
  try {
    return JSON.stringify(body);
  } catch (cause) {
    const err = new Error(`the job's output cannot be sent as JSON: ${cause instanceof Error ? cause.message : String(cause)}`);
    err.name = ErrorType.SerializationError;
    return JSON.stringify(errorBody(err, origin));
  }
}
