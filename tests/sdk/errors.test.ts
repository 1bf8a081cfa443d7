/**
 * Error classes and the mapping from a job's final status / FunctionResponse to them.
 */
import { describe, expect, it } from "vitest";
import { settle } from "../../sdk/call.ts";
import {
  AuthenticationError,
  CancelledError,
  DependencyInstallError,
  ModelDownloadError,
  RateLimitError,
  RemoteError,
  RemoteTimeoutError,
  WorkerCrashedError,
  errorFromResponse,
  parseJobErrorText,
  splitErrorText,
} from "../../sdk/errors.ts";

const TRACE = 'Traceback (most recent call last):\n  File "<function_code>", line 2, in f\n    raise ValueError("bad input")\nValueError: bad input';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("did not throw");
}

describe("errorFromResponse", () => {
  it("a Python exception becomes RemoteError with type, message, traceback, stdout and job id", () => {
    const e = errorFromResponse(
      { success: false, error_type: "ValueError", error: `ValueError: bad input\n\n${TRACE}`, error_traceback: TRACE, stdout: "before\n" },
      { jobId: "job-1", workerId: "w-1" },
    ) as RemoteError;
    expect(e).toBeInstanceOf(RemoteError);
    expect(e.name).toBe("RemoteError");
    expect(e.errorType).toBe("ValueError");
    expect(e.message).toBe("bad input");
    expect(e.traceback).toBe(TRACE);
    expect(e.stdout).toBe("before\n");
    expect(e.jobId).toBe("job-1");
    expect(e.workerId).toBe("w-1");
    expect(e.stack).toMatch(/^RemoteError \[ValueError\]: bad input\n/);
    expect(e.stack).toContain("Remote traceback (job job-1):\nTraceback (most recent call last):");
  });

  it.each([
    ["Timeout", RemoteTimeoutError, "RemoteTimeoutError"],
    ["Cancelled", CancelledError, "CancelledError"],
    ["WorkerProcessDied", WorkerCrashedError, "WorkerCrashedError"],
    ["DependencyInstallError", DependencyInstallError, "DependencyInstallError"],
    ["ModelDownloadError", ModelDownloadError, "ModelDownloadError"],
    ["CudaOutOfMemory", RemoteError, "RemoteError"],
    ["InvalidRequest", RemoteError, "RemoteError"],
    ["DeserializationError", RemoteError, "RemoteError"],
  ] as const)("%s -> %s", (errorType, cls, name) => {
    const e = errorFromResponse({ success: false, error_type: errorType, error: "it failed" }, { jobId: "j" });
    expect(e).toBeInstanceOf(cls);
    expect(e.name).toBe(name);
  });

  it("subclasses of RemoteError are RemoteErrors", () => {
    expect(errorFromResponse({ success: false, error_type: "DependencyInstallError", error: "pip failed" })).toBeInstanceOf(RemoteError);
  });

  it("splitErrorText handles a headline only, and a message with blank lines", () => {
    expect(splitErrorText("KeyError: 'x'", "KeyError")).toEqual({ message: "'x'", traceback: "" });
    expect(splitErrorText("RuntimeError", "RuntimeError")).toEqual({ message: "", traceback: "" });
    expect(splitErrorText(`RuntimeError: a\n\nb\n\n${TRACE}`, "RuntimeError").traceback).toBe(TRACE);
  });

  it("parseJobErrorText reads RunPod's handler-threw JSON and plain text", () => {
    expect(parseJobErrorText(JSON.stringify({ error_type: "TypeError", error_message: "boom", error_traceback: "tb" }))).toMatchObject({
      error_type: "TypeError",
      error: "boom",
      error_traceback: "tb",
    });
    expect(parseJobErrorText("ZeroDivisionError: division by zero\n\nTraceback...").error_type).toBe("ZeroDivisionError");
    expect(parseJobErrorText(undefined).error_type).toBe("WorkerError");
  });
});

describe("settle: the final status of a job", () => {
  const started = performance.now();

  it("COMPLETED with a successful response gives the outcome with timings", () => {
    const o = settle(
      { id: "j1", status: "COMPLETED", delayTime: 7, executionTime: 9, workerId: "w", output: { success: true, result: "wA==", stdout: "hi\n", timings: { install_ms: 3, execute_ms: 2, total_ms: 6 } } },
      started,
      undefined,
    );
    expect(o).toMatchObject({ jobId: "j1", workerId: "w", result: "wA==", stdout: "hi\n", timings: { queueMs: 7, installMs: 3, executeMs: 2, totalMs: 6 } });
  });

  it("FAILED with the error lifted out of the output (RunPod's job-done rule) keeps the type and stdout", () => {
    const e = thrown(() =>
      settle({ id: "j2", status: "FAILED", error: `ValueError: bad input\n\n${TRACE}`, output: { success: false, error_type: "ValueError", error_traceback: TRACE, stdout: "x\n" } }, started, undefined),
    ) as RemoteError;
    expect(e).toBeInstanceOf(RemoteError);
    expect(e).toMatchObject({ errorType: "ValueError", message: "bad input", traceback: TRACE, stdout: "x\n", jobId: "j2" });
  });

  it("FAILED with only an error string", () => {
    const e = thrown(() => settle({ id: "j3", status: "FAILED", error: JSON.stringify({ error_type: "SerializationError", error_message: "bad output" }) }, started, undefined)) as RemoteError;
    expect(e).toMatchObject({ name: "RemoteError", errorType: "SerializationError", message: "bad output" });
  });

  it("CANCELLED and TIMED_OUT", () => {
    expect(thrown(() => settle({ id: "j4", status: "CANCELLED" }, started, undefined))).toBeInstanceOf(CancelledError);
    const t = thrown(() => settle({ id: "j5", status: "TIMED_OUT" }, started, 100)) as RemoteTimeoutError;
    expect(t).toBeInstanceOf(RemoteTimeoutError);
    expect(t.enforcedBy).toBe("endpoint");
  });

  it("an output that is not a FunctionResponse says so", () => {
    const e = thrown(() => settle({ id: "j6", status: "COMPLETED", output: { hello: 1 } }, started, undefined)) as RemoteError;
    expect(e.errorType).toBe("InvalidResponse");
    expect(e.message).toMatch(/not a Ferry FunctionResponse/);
  });
});

describe("HTTP errors", () => {
  it("AuthenticationError says which key source was used", () => {
    const e = new AuthenticationError(401, "https://api.runpod.ai/v2/x/run", "", "the RUNPOD_API_KEY environment variable");
    expect(e.name).toBe("AuthenticationError");
    expect(e.message).toContain("the key came from the RUNPOD_API_KEY environment variable");
  });

  it("RateLimitError", () => {
    const e = new RateLimitError("u", "", 2000, 6);
    expect(e.name).toBe("RateLimitError");
    expect(e.retryAfterMs).toBe(2000);
  });
});
