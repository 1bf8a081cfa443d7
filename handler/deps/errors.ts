/**
 * Errors of the dependency step. The handler turns both into a failed response without
 * running user code: `errorType` is the `error_type` it answers with.
 */
import { ErrorType } from "../../protocol/error-types.ts";

export type DependencyTool = "pip" | "uv" | "apt-get" | "nala" | "dpkg-query" | "venv" | "python" | "ferry";

export class DependencyInstallError extends Error {
  override readonly name: string = "DependencyInstallError";
  readonly errorType: string = ErrorType.DependencyInstallError;
  /** The tool that failed; "ferry" when the worker refused before running one. */
  readonly tool: DependencyTool;
  /** The command that ran, when one did (arguments as passed, no shell). */
  readonly command?: readonly string[];
  readonly exitCode?: number | null;
  /** The last lines of the tool's output, for the response's error text. */
  readonly outputTail: string;

  constructor(
    message: string,
    details: { tool: DependencyTool; command?: readonly string[]; exitCode?: number | null; outputTail?: string; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.tool = details.tool;
    if (details.command) this.command = details.command;
    if (details.exitCode !== undefined) this.exitCode = details.exitCode;
    this.outputTail = details.outputTail ?? "";
  }

  /** Message and output tail, as the response's `error` field carries them. */
  describe(): string {
    return this.outputTail ? `${this.message}\n--- ${this.tool} output (last lines) ---\n${this.outputTail}` : this.message;
  }
}

/** One entry of a dependency list that is refused before anything runs. */
export interface SpecProblem {
  /** "dependencies[2]" or "system_dependencies[0]". */
  where: string;
  entry: unknown;
  reason: string;
}

/**
 * A dependency list that names something unsafe or malformed. It is a bad request, not a
 * failed install, so the handler answers `InvalidRequest`; it extends DependencyInstallError
 * so a caller that only knows the base class still fails the job.
 */
export class DependencySpecError extends DependencyInstallError {
  override readonly name: string = "DependencySpecError";
  override readonly errorType: string = ErrorType.InvalidRequest;
  readonly problems: readonly SpecProblem[];

  constructor(problems: readonly SpecProblem[]) {
    super(`Invalid dependency list: ${problems.map(formatProblem).join("; ")}`, { tool: "ferry" });
    this.problems = problems;
  }
}

const MAX_SHOWN_ENTRY = 120;

function formatProblem(problem: SpecProblem): string {
  let shown = typeof problem.entry === "string" ? JSON.stringify(problem.entry) : String(typeof problem.entry);
  if (shown.length > MAX_SHOWN_ENTRY) shown = `${shown.slice(0, MAX_SHOWN_ENTRY)}..."`;
  return `${problem.where} ${shown}: ${problem.reason}`;
}
