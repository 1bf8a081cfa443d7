/**
 * One vocabulary of error types: every type the worker can produce is in `protocol/error-types.ts`
 * and maps to one SDK error class, and the list names nothing that no code produces.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorType, FERRY_ERROR_TYPES, type FerryErrorType } from "../../protocol/error-types.ts";
import {
  CancelledError,
  DependencyInstallError,
  ModelDownloadError,
  RemoteError,
  RemoteTimeoutError,
  WorkerCrashedError,
  WorkerStartError,
  errorFromResponse,
} from "../../sdk/errors.ts";

const ROOT = resolve(import.meta.dirname, "../..");

function read(dir: string, pattern: RegExp): { file: string; text: string }[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && pattern.test(e.name))
    .map((e) => {
      const file = relative(ROOT, join(e.parentPath, e.name));
      return { file, text: readFileSync(join(ROOT, file), "utf8") };
    });
}

/** `E_NAME = "Value"` constants of the Python runner: the error types it writes. */
function runnerErrorTypes(): string[] {
  const values: string[] = [];
  for (const { text } of read("handler/python", /\.py$/)) {
    for (const m of text.matchAll(/^E_[A-Z_]+\s*=\s*"([^"]+)"/gm)) values.push(m[1]!);
  }
  return values;
}

/** Types written as `ErrorType.X` by TypeScript that produces errors (the worker, and the local server for a lost worker). */
function typeScriptProducedTypes(): string[] {
  const values: string[] = [];
  for (const dir of ["handler", "sdk/local-server", "protocol"]) {
    for (const { text } of read(dir, /\.ts$/)) {
      for (const m of text.matchAll(/\bErrorType\.([A-Za-z]+)/g)) values.push(m[1]!);
    }
  }
  // The SDK itself writes WorkerError for a job that failed without a Ferry response.
  for (const m of readFileSync(join(ROOT, "sdk/errors.ts"), "utf8").matchAll(/error_type: [^,}]*\bErrorType\.([A-Za-z]+)/g)) values.push(m[1]!);
  return values;
}

const EXPECTED_CLASS: Record<FerryErrorType, new (...args: never[]) => Error> = {
  InvalidRequest: RemoteError,
  Timeout: RemoteTimeoutError,
  Cancelled: CancelledError,
  WorkerProcessDied: WorkerCrashedError,
  WorkerStartError: WorkerStartError,
  CudaOutOfMemory: RemoteError,
  OutOfMemory: RemoteError,
  SerializationError: RemoteError,
  DeserializationError: RemoteError,
  ResultDeliveryError: RemoteError,
  DependencyInstallError: DependencyInstallError,
  ModelDownloadError: ModelDownloadError,
  PreparationError: RemoteError,
  WorkerError: RemoteError,
};

describe("error types", () => {
  it("the runner writes only types the protocol lists", () => {
    const runner = runnerErrorTypes();
    expect(runner.length).toBeGreaterThan(3);
    for (const type of runner) expect(FERRY_ERROR_TYPES).toContain(type);
  });

  it("every listed type is produced by some code, so the SDK names no type nothing produces", () => {
    const produced = new Set([...runnerErrorTypes(), ...typeScriptProducedTypes()]);
    const unproduced = FERRY_ERROR_TYPES.filter((type) => !produced.has(type));
    expect(unproduced).toEqual([]);
  });

  it("every type maps to exactly its SDK error class", () => {
    for (const type of FERRY_ERROR_TYPES) {
      const error = errorFromResponse({ success: false, error_type: type, error: `${type}: boom` }, { jobId: "j1" });
      expect(error.constructor, type).toBe(EXPECTED_CLASS[type]);
      if (error instanceof RemoteError) expect(error.errorType).toBe(type);
    }
  });

  it("a Python exception class name stays a RemoteError carrying that name", () => {
    const error = errorFromResponse({ success: false, error_type: "ValueError", error: "ValueError: bad" });
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).errorType).toBe("ValueError");
    expect(error.message).toBe("bad");
  });

  it("the SDK switches on no error type by string literal", () => {
    const sdk = readFileSync(join(ROOT, "sdk/errors.ts"), "utf8");
    const literals = FERRY_ERROR_TYPES.filter((type) => new RegExp(`case "${type}"|=== "${type}"`).test(sdk));
    expect(literals).toEqual([]);
    expect(ErrorType.Timeout).toBe("Timeout");
  });
});
