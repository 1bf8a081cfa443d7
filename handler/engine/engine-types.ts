/** The engine's public shapes: its options, a call's options and outcome, the child's identity. */
import type { ErrorType } from "../../protocol/error-types.ts";
import type { Logger } from "../../protocol/logger.ts";
import type { FunctionRequest, FunctionResponse } from "../../protocol/wire.ts";
import type { ValueFile } from "./value-file.ts";

/** The error type a cancelled call ends with. */
export type CancelReason = typeof ErrorType.Timeout | typeof ErrorType.Cancelled;

export interface EngineOptions {
  /** Interpreter that runs the child. */
  python: string;
  runnerPath?: string;
  /** Environment of the child; the worker's API keys are removed from it. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** After a cancel or timeout, how long the call gets to stop before the child is killed. */
  cancelGraceMs?: number;
  startTimeoutMs?: number;
}

export interface ChildInfo {
  pid: number;
  python: string;
  executable: string;
  cloudpickle: boolean;
}

export interface LiveLogLine {
  stream: "stdout" | "stderr" | "log";
  line: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  onLog?: (line: LiveLogLine) => void;
  /** A yielded value, encoded like `result` (base64 text, or the JSON value itself for json). */
  onValue?: (value: unknown, index: number) => void;
  /**
   * Encoded values (the result, yielded values) stay the child's bytes instead of becoming
   * base64 text: the result arrives in `result_bytes`, and `onValue` gets a Uint8Array.
   */
  valuesAsBytes?: boolean;
  /** The call and its arguments are written to the child's pipe (or the write failed): the caller may free the argument buffers. */
  onArgumentsSent?: () => void;
}

/** `result_file`: the result as a file the child wrote in the job's `value_files` folder. */
export type CallOutcome = FunctionResponse & { error_traceback?: string; result_bytes?: Uint8Array; result_file?: ValueFile };

export interface RequirementCheck {
  requirement: string;
  name: string | null;
  installed_version: string | null;
  satisfied: boolean;
  marker_applies: boolean;
  error?: string;
}

/** The part of a FunctionRequest the child needs. */
export type EngineJob = Pick<
  FunctionRequest,
  | "execution_type"
  | "function_name"
  | "function_code"
  | "class_name"
  | "class_code"
  | "method_name"
  | "instance_id"
  | "create_new_instance"
  | "args"
  | "kwargs"
  | "constructor_args"
  | "constructor_kwargs"
  | "serialization_format"
  | "modules"
  | "return_aggregate_stream"
> &
  Partial<Pick<FunctionRequest, "code_file">> & {
    /** The local server's blob folder: a result or streamed value over the threshold is written there as a file of its own (a ValueFile). */
    value_files?: { dir: string; threshold_bytes: number };
  };
