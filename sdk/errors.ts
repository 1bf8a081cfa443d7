/**
 * Every error the SDK throws. Flat classes, each with its own `name`, so `instanceof` and
 * `err.name` both work after the error crosses a module or realm boundary.
 *
 * Remote failures (the Python code or the worker failed) are `RemoteError` or one of its
 * subclasses and carry the job id and the captured stdout. Failures around the job (timeout,
 * cancel, HTTP, provisioning, a value that cannot be encoded) have their own classes.
 */
import { ErrorType, isFerryErrorType, type FerryErrorType } from "../protocol/error-types.ts";
import { parseJobError } from "../protocol/job-error.ts";
import type { FunctionResponse } from "../protocol/wire.ts";

/** The base of every error Ferry throws: `err instanceof FerryError` catches them all. */
export class FerryError extends Error {
  override name = "FerryError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface RemoteErrorInit {
  /** The Python exception class (`ValueError`), or a worker category (`InvalidRequest`, `CudaOutOfMemory`, ...). */
  errorType: string;
  /** The exception's message (`str(exc)` in Python). */
  message: string;
  traceback?: string | undefined;
  stdout?: string | undefined;
  jobId?: string | undefined;
  workerId?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/**
 * The remote code raised, or the worker could not run it: `errorType` is the Python exception
 * class, `traceback` its traceback, `stdout` what the call printed.
 *
 * @example
 * ```ts
 * try {
 *   await fn(1);
 * } catch (err) {
 *   if (err instanceof RemoteError && err.errorType === "ValueError") console.error(err.traceback);
 * }
 * ```
 */
export class RemoteError extends FerryError {
  override name = "RemoteError";
  readonly errorType: string;
  readonly traceback: string;
  readonly stdout: string;
  readonly jobId: string | undefined;
  readonly workerId: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(init: RemoteErrorInit) {
    super(init.message);
    this.errorType = init.errorType;
    this.traceback = init.traceback ?? "";
    this.stdout = init.stdout ?? "";
    this.jobId = init.jobId;
    this.workerId = init.workerId;
    this.details = init.details ?? {};
    // The stack a user sees when this goes uncaught: the Python type first, the Python
    // traceback after the TypeScript frames, so both halves of the failure are in one place.
    const jsFrames = (this.stack ?? "").split("\n").slice(1).join("\n");
    const head = `${this.constructor.name} [${this.errorType}]: ${this.message}`;
    const remote = this.traceback ? `\n\nRemote traceback${this.jobId ? ` (job ${this.jobId})` : ""}:\n${this.traceback}` : "";
    this.stack = `${head}\n${jsFrames}${remote}`;
  }
}

/** The worker process died mid-call (killed, segfault, CUDA fatal error); the job did not finish. */
export class WorkerCrashedError extends RemoteError {
  override name = "WorkerCrashedError";
}

/**
 * A worker process could not start, or exited before it took a job (no worker bundle, a Python
 * without msgpack, a crash at start): the calls waiting for it fail with this at once instead of
 * waiting through restarts. `fix` says what to change; `workerOutput` holds the worker's last
 * output lines (its stderr says why). Fix the cause and call again: the next call starts a fresh
 * worker, in the same process.
 *
 * @example
 * ```ts
 * try {
 *   await fn.call(1);
 * } catch (err) {
 *   if (err instanceof WorkerStartError) console.error(err.fix, err.workerOutput.join("\n"));
 * }
 * ```
 */
export class WorkerStartError extends RemoteError {
  override name = "WorkerStartError";
  /** What to change so that the worker starts. */
  readonly fix: string;
  /** The worker's last output lines before it exited. */
  readonly workerOutput: readonly string[];

  constructor(init: RemoteErrorInit) {
    super(init);
    const details = init.details ?? {};
    this.fix = typeof details["fix"] === "string" ? details["fix"] : "run `npx ferry doctor` to see what the local default is missing";
    const output = details["worker_output"];
    this.workerOutput = Array.isArray(output) ? output.filter((l): l is string => typeof l === "string") : (init.traceback ?? "").split("\n").filter(Boolean);
  }
}

/** A pip or apt dependency could not be installed on the worker. */
export class DependencyInstallError extends RemoteError {
  override name = "DependencyInstallError";
}

/** A Hugging Face model could not be downloaded ahead of the call. */
export class ModelDownloadError extends RemoteError {
  override name = "ModelDownloadError";
}

/** The call ran past its time limit: the client's `timeoutMs`, the worker's, or the endpoint's execution timeout. */
export class RemoteTimeoutError extends FerryError {
  override name = "RemoteTimeoutError";
  readonly timeoutMs: number | undefined;
  readonly jobId: string | undefined;
  /** Who enforced the limit. */
  readonly enforcedBy: "client" | "worker" | "endpoint";
  readonly stdout: string;
  constructor(init: { message?: string; timeoutMs?: number | undefined; jobId?: string | undefined; enforcedBy: "client" | "worker" | "endpoint"; stdout?: string | undefined }) {
    super(init.message ?? `the call timed out${init.timeoutMs !== undefined ? ` after ${init.timeoutMs} ms` : ""}${init.jobId ? ` (job ${init.jobId})` : ""}`);
    this.timeoutMs = init.timeoutMs;
    this.jobId = init.jobId;
    this.enforcedBy = init.enforcedBy;
    this.stdout = init.stdout ?? "";
  }
}

/** The call was cancelled: its AbortSignal aborted, or the job was cancelled on the endpoint. */
export class CancelledError extends FerryError {
  override name = "CancelledError";
  readonly jobId: string | undefined;
  readonly reason: unknown;
  constructor(init: { message?: string; jobId?: string | undefined; reason?: unknown } = {}) {
    super(init.message ?? `the call was cancelled${init.jobId ? ` (job ${init.jobId})` : ""}`);
    this.jobId = init.jobId;
    this.reason = init.reason;
  }
}

/** A value cannot be sent (no MessagePack mapping) or a received value cannot be read. */
export class SerializationError extends FerryError {
  override name = "SerializationError";
  /** Where in the value: `args[1].model`, `kwargs.mask`, `result`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/**
 * A call whose request would be over the endpoint's size cap, refused before anything was
 * encoded or sent: on RunPod without a blob store, large values have no other way there.
 */
export class PayloadTooLargeError extends FerryError {
  override name = "PayloadTooLargeError";
  /** The request's estimated size in bytes (values as base64, code and options). */
  readonly bytes: number;
  /** The cap it would pass: 10 MB, RunPod's cap for `/run`. */
  readonly capBytes: number;
  constructor(bytes: number, capBytes: number, route: string) {
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    super(
      `the request would be about ${mb(bytes)}, over RunPod's ${mb(capBytes)} cap for ${route}, and no blob store is configured: ` +
        "configure one (configure({ blobStore: { bucket, endpoint, region } }) or FERRY_BLOB_S3_BUCKET / FERRY_BLOB_S3_ENDPOINT / FERRY_BLOB_S3_REGION " +
        "with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and values over the threshold travel as blobs (see docs/sdk.md, Large values)",
    );
    this.bytes = bytes;
    this.capBytes = capBytes;
  }
}

/** A value could not be written to or read from the blob store (the call's values are not lost: nothing ran, or the error says what did). */
export class BlobStoreError extends FerryError {
  override name = "BlobStoreError";
}

/** A resource, `remote()` option or call option is invalid (with "did you mean" for misspellings). */
export class ConfigError extends FerryError {
  override name = "ConfigError";
}

/** The result did not match the zod schema given with `.with({ schema })`. */
export class ResultValidationError extends FerryError {
  override name = "ResultValidationError";
  readonly jobId: string | undefined;
  readonly value: unknown;
  constructor(message: string, value: unknown, jobId: string | undefined) {
    super(message);
    this.value = value;
    this.jobId = jobId;
  }
}

/** Creating, updating, listing or deleting an endpoint failed. */
export class ProvisioningError extends FerryError {
  override name = "ProvisioningError";
  readonly resource: string | undefined;
  constructor(message: string, options?: { resource?: string | undefined; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.resource = options?.resource;
  }
}

/** An HTTP answer the SDK cannot use (after retries, for the retryable ones). */
export class ApiError extends FerryError {
  override name = "ApiError";
  readonly status: number;
  readonly url: string;
  readonly body: string;
  constructor(status: number, url: string, body: string, message?: string) {
    super(message ?? `${url} answered HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ""}`);
    this.status = status;
    this.url = url;
    this.body = body;
  }
}

/** 401 / 403: the key was refused. Says which key source was used, since a stale key is the usual cause. */
export class AuthenticationError extends ApiError {
  override name = "AuthenticationError";
  readonly keySource: string;
  constructor(status: number, url: string, body: string, keySource: string) {
    super(status, url, body, `${url} refused the API key (HTTP ${status}); the key came from ${keySource}. Check that it is current and has access to this endpoint.`);
    this.keySource = keySource;
  }
}

/** 429 after every retry. */
export class RateLimitError extends ApiError {
  override name = "RateLimitError";
  readonly retryAfterMs: number | undefined;
  constructor(url: string, body: string, retryAfterMs: number | undefined, attempts: number) {
    super(429, url, body, `${url} kept answering HTTP 429 (rate limited) after ${attempts} attempts`);
    this.retryAfterMs = retryAfterMs;
  }
}

/** The endpoint could not be reached (connection refused, DNS, reset) after every retry. */
export class ConnectionError extends FerryError {
  override name = "ConnectionError";
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`cannot reach ${url}: ${cause instanceof Error ? describeNetworkError(cause) : String(cause)}`, { cause });
    this.url = url;
  }
}

function describeNetworkError(error: Error): string {
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" ? `${code} (${cause.message})` : cause.message;
  }
  return error.message;
}

export interface ErrorContext {
  jobId?: string | undefined;
  workerId?: string | undefined;
  timeoutMs?: number | undefined;
}

/** `error` as the worker writes it: `"ValueError: bad\n\nTraceback (most recent call last): ..."`. */
export function splitErrorText(text: string, errorType: string | undefined): { message: string; traceback: string } {
  const at = text.indexOf("Traceback (most recent call last):");
  let head = (at >= 0 ? text.slice(0, at) : text.split("\n\n")[0] ?? text).trim();
  let traceback = at >= 0 ? text.slice(at).trimEnd() : text.includes("\n\n") ? text.slice(text.indexOf("\n\n") + 2).trimEnd() : "";
  if (!head && traceback) head = traceback.split("\n").filter(Boolean).pop() ?? "";
  if (errorType && head.startsWith(`${errorType}: `)) head = head.slice(errorType.length + 2);
  else if (errorType && head === errorType) head = "";
  if (!traceback) traceback = "";
  return { message: head, traceback };
}

/** A FunctionResponse plus what the worker sends beside the schema (`error_traceback`). */
export type ResponseLike = Partial<FunctionResponse> & { error_traceback?: string | null | undefined };

/** Maps a failed FunctionResponse to the error class its `error_type` names. */
export function errorFromResponse(response: ResponseLike, context: ErrorContext = {}): FerryError {
  const errorType = response.error_type || "RemoteError";
  const text = response.error ?? "";
  const split = splitErrorText(text, errorType);
  const traceback = response.error_traceback || split.traceback;
  const message = split.message || `the remote call failed (${errorType})`;
  const stdout = response.stdout ?? "";
  const details = response.details ?? {};
  const init: RemoteErrorInit = { errorType, message, traceback, stdout, jobId: context.jobId, workerId: context.workerId, details };
  const suffix = context.jobId ? ` (job ${context.jobId})` : "";
  if (!isFerryErrorType(errorType)) return new RemoteError(init);
  return ERROR_OF_TYPE[errorType]({ init, suffix, context });
}

interface ErrorInputs {
  init: RemoteErrorInit;
  /** " (job <id>)" when the job is known. */
  suffix: string;
  context: ErrorContext;
}

/**
 * The SDK error class of each error type the worker produces. Keyed by the whole union, so a type
 * added to `protocol/error-types.ts` does not compile until it is given a class here.
 */
const ERROR_OF_TYPE: Record<FerryErrorType, (inputs: ErrorInputs) => FerryError> = {
  Timeout: ({ init, suffix, context }) =>
    new RemoteTimeoutError({ message: `${init.message}${suffix}`, timeoutMs: context.timeoutMs, jobId: context.jobId, enforcedBy: "worker", stdout: init.stdout ?? "" }),
  Cancelled: ({ init, suffix, context }) => new CancelledError({ message: `${init.message}${suffix}`, jobId: context.jobId }),
  WorkerProcessDied: ({ init }) => new WorkerCrashedError(init),
  WorkerStartError: ({ init }) => new WorkerStartError(init),
  DependencyInstallError: ({ init }) => new DependencyInstallError(init),
  ModelDownloadError: ({ init }) => new ModelDownloadError(init),
  InvalidRequest: ({ init }) => new RemoteError(init),
  CudaOutOfMemory: ({ init }) => new RemoteError(init),
  OutOfMemory: ({ init }) => new RemoteError(init),
  SerializationError: ({ init }) => new RemoteError(init),
  DeserializationError: ({ init }) => new RemoteError(init),
  ResultDeliveryError: ({ init }) => new RemoteError(init),
  PreparationError: ({ init }) => new RemoteError(init),
  WorkerError: ({ init }) => new RemoteError(init),
};

/**
 * The `error` of a FAILED job when the handler itself threw: RunPod's JSON text
 * `{"error_type", "error_message", "error_traceback", ...}`. Plain text otherwise.
 */
export function parseJobErrorText(error: unknown): ResponseLike {
  if (typeof error === "string") {
    const payload = parseJobError(error);
    if (payload) {
      return {
        success: false,
        error_type: payload.error_type ?? ErrorType.WorkerError,
        error: payload.error_message ?? error.trim(),
        error_traceback: payload.error_traceback,
        ...(payload.details ? { details: payload.details } : {}),
      };
    }
    const trimmed = error.trim();
    const first = trimmed.split("\n")[0] ?? "";
    const typed = /^([A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception|Interrupt|Exit|Warning)): /.exec(first);
    return { success: false, error_type: typed?.[1]?.split(".").pop() ?? ErrorType.WorkerError, error: trimmed };
  }
  if (error && typeof error === "object") return { success: false, error_type: ErrorType.WorkerError, error: JSON.stringify(error) };
  return { success: false, error_type: ErrorType.WorkerError, error: "the job failed without an error message" };
}
