/**
 * How the image check runs buildah and debootstrap: never through a shell, every output line
 * appended to the check's log file, and the output kept for the caller (buildah names a failed
 * build step in it). A non-zero exit throws, with the last lines of output in the message.
 */
import { appendFileSync } from "node:fs";
import { execa } from "execa";

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they came. */
  all: string;
  exitCode: number;
}

export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    message: string,
    readonly result: CommandResult,
  ) {
    super(message);
  }
}

export interface CommandOptions {
  /** Text for the log and for the error when it fails. */
  what: string;
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
}

export async function runCommand(command: string, args: readonly string[], options: CommandOptions): Promise<CommandResult> {
  appendFileSync(options.logFile, `\n$ ${[command, ...args].join(" ")}\n`);
  const child = execa(command, args, {
    cwd: options.cwd,
    env: options.env,
    input: options.input,
    stdin: options.input === undefined ? "ignore" : undefined,
    all: true,
    reject: false,
    timeout: options.timeoutMs,
    killSignal: "SIGKILL",
    lines: false,
    stripFinalNewline: false,
  });
  child.all?.on("data", (chunk: Buffer) => appendFileSync(options.logFile, chunk));
  const done = await child;
  const result: CommandResult = {
    stdout: String(done.stdout ?? ""),
    stderr: String(done.stderr ?? ""),
    all: String(done.all ?? ""),
    exitCode: done.exitCode ?? (done.timedOut ? 124 : 1),
  };
  if (result.exitCode !== 0 && !options.allowFailure) {
    const tail = result.all.trimEnd().split("\n").slice(-15).join("\n");
    const why = done.timedOut ? `timed out after ${options.timeoutMs} ms` : `exit code ${result.exitCode}`;
    throw new CommandError(`${options.what} failed (${why}):\n${tail}`, result);
  }
  return result;
}
