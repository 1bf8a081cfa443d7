/**
 * The `error_type` values Ferry itself produces. Any other `error_type` a job answers with is the
 * class name of the Python exception the user's code raised. The worker writes these (in
 * TypeScript from here, in the Python runner as its `E_*` constants); the SDK maps each to one
 * error class with a table keyed by `FerryErrorType`, so a type added here does not compile until
 * the SDK decides what it means. `tests/protocol/error-types.test.ts` checks both ends.
 */
export const ErrorType = {
  /** The job input was refused before anything ran (schema, dependency spec, module path, model id). */
  InvalidRequest: "InvalidRequest",
  /** The call ran past its `timeout_ms`. */
  Timeout: "Timeout",
  /** The call was cancelled (`/cancel`, the worker's job-stop poll, or the caller's signal). */
  Cancelled: "Cancelled",
  /** The Python child (or the worker holding the job) died while the call ran. */
  WorkerProcessDied: "WorkerProcessDied",
  /** A local worker process exited before it took a job (no bundle, a Python without msgpack, a crash at start). */
  WorkerStartError: "WorkerStartError",
  CudaOutOfMemory: "CudaOutOfMemory",
  OutOfMemory: "OutOfMemory",
  /** The result or a yielded value has no mapping to the wire format. */
  SerializationError: "SerializationError",
  /** An argument could not be decoded in Python. */
  DeserializationError: "DeserializationError",
  DependencyInstallError: "DependencyInstallError",
  ModelDownloadError: "ModelDownloadError",
  /**
   * The call finished but a value could not be delivered: an upload to an output place failed,
   * or the job API refused the result (too large, with no blob store to put it in).
   */
  ResultDeliveryError: "ResultDeliveryError",
  /** A preparation step failed in a way that is neither an install nor a download. */
  PreparationError: "PreparationError",
  /** The job failed without a Ferry response (the handler itself threw, or a foreign worker answered). */
  WorkerError: "WorkerError",
} as const;

export type FerryErrorType = (typeof ErrorType)[keyof typeof ErrorType];

export const FERRY_ERROR_TYPES: readonly FerryErrorType[] = Object.values(ErrorType);

export function isFerryErrorType(value: string): value is FerryErrorType {
  return (FERRY_ERROR_TYPES as readonly string[]).includes(value);
}
