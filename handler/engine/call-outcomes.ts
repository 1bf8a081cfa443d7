/**
 * A call's job as the child gets it (base64 arguments as bytes) and its outcome as the worker
 * gets it (encoded values as base64 text or bytes; a death explained).
 */
import { ErrorType } from "../../protocol/error-types.ts";
import type { CallOutcome, EngineJob } from "./engine-types.ts";
import { ValueFile } from "./value-file.ts";
import { describeExit, type Child, type PendingCall } from "./python-child.ts";

export function toOutcome(response: Record<string, unknown>, valuesAsBytes: boolean): CallOutcome {
  const { json_result_text, ...rest } = response;
  const outcome = rest as unknown as CallOutcome;
  if (typeof json_result_text === "string") outcome.json_result = JSON.parse(json_result_text);
  if (rest.result instanceof ValueFile) {
    outcome.result_file = rest.result;
    delete outcome.result;
  } else if (rest.result instanceof Uint8Array) {
    if (valuesAsBytes) {
      outcome.result_bytes = rest.result;
      delete outcome.result;
    } else outcome.result = bytesToBase64(rest.result);
  }
  return outcome;
}

/*
 * Serialized values are base64 text on the wire (the job is JSON) but bytes between the worker
 * and its child: Node's native base64 is several times faster than Python's, and a 64 MB array
 * then crosses the pipe once, as bytes, instead of as 89 MB of text to transcode.
 */

export function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Strict base64: Node's decoder skips characters it does not know, which shows as a length mismatch. */
function fromBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const bytes = Buffer.from(text, "base64");
  return bytes.length === (text.length / 4) * 3 - padding ? bytes : undefined;
}

type DecodedJob = { job: Record<string, unknown> } | { error: string };

/** The job as the child gets it: each cloudpickle / msgpack argument as bytes. */
export function decodeArguments(job: EngineJob): DecodedJob {
  if (job.serialization_format === "json") return { job: job as unknown as Record<string, unknown> };
  let error: string | undefined;
  const bytes = (item: unknown, path: string): unknown => {
    if (typeof item !== "string") return item; // the child explains what it expected
    const decoded = fromBase64(item);
    if (!decoded) error ??= `${path}: not valid base64`;
    return decoded ?? item;
  };
  const list = (items: unknown[], field: string) => items.map((item, i) => bytes(item, `${field}[${i}]`));
  const map = (values: Record<string, unknown>, field: string) =>
    Object.fromEntries(Object.entries(values).map(([key, item]) => [key, bytes(item, `${field}.${key}`)]));
  const out = {
    ...job,
    args: list(job.args, "args"),
    kwargs: map(job.kwargs, "kwargs"),
    constructor_args: list(job.constructor_args, "constructor_args"),
    constructor_kwargs: map(job.constructor_kwargs, "constructor_kwargs"),
  };
  return error ? { error } : { job: out };
}


export function deathOutcome(call: PendingCall, code: number | null, signal: NodeJS.Signals | null, child: Child, graceMs: number): CallOutcome {
  const lost = "Class instances held by this worker were lost; a new Python process has started.";
  if (call.cancel) {
    return {
      success: false,
      error_type: call.cancel.reason,
      error: `${call.cancel.message}. The call did not stop within ${graceMs} ms of its interrupt, so the Python process was replaced. ${lost}`,
      stdout: "",
      details: { instances_lost: true, child_killed: true },
    };
  }
  let hint = "";
  if (signal === "SIGKILL" && !child.killedByWorker) {
    hint = " SIGKILL from outside the worker usually means the kernel's out-of-memory killer: the process used more memory than the machine allows.";
  } else if (signal === "SIGSEGV" || signal === "SIGABRT" || signal === "SIGBUS") {
    hint = " A crash signal usually comes from native code (a C extension, a driver).";
  }
  return {
    success: false,
    error_type: ErrorType.WorkerProcessDied,
    error: `The Python process died while running this call: ${describeExit(code, signal, child.stderrTail)}${hint ? `\n${hint.trim()}` : ""}\n${lost}`,
    stdout: "",
    details: { exit_code: code, signal, instances_lost: true, stderr_tail: child.stderrTail.slice(-12) },
  };
}
