/**
 * A call's log lines on their way to the caller: one line per handler call, labelled with where
 * it came from (`function @ worker`), and the default printer for this console.
 */
import type { LogLine } from "../protocol/wire.ts";
import { writeConsoleLine } from "./progress/console.ts";

/** One line the remote code (or the worker) printed, delivered while the call runs. */
export interface RemoteLogLine extends LogLine {
  /** Set when known: the worker's id, or the function's label. */
  source: string;
}
/** Receives remote log lines (`onLog` in call options and `configure`). */
export type LogHandler = (line: RemoteLogLine) => void;

/**
 * Prints remote log lines on this process's console as `[function @ worker] line`: stdout
 * lines on stdout, everything else (stderr, logging, the worker's own lines) on stderr.
 */
export const printLog: LogHandler = (line) => {
  writeConsoleLine(line.stream === "stdout" ? "stdout" : "stderr", `[${line.source}] ${line.line}`);
};

/**
 * Hands a live log item to the handler one line at a time: the worker sends consecutive lines
 * of one stream as a single item joined by "\n", while a handler (and the console prefix)
 * works per line.
 */
export function emitLog(handler: LogHandler | false | undefined, log: LogLine, source: string): void {
  if (handler === false) return;
  const deliver = handler ?? printLog;
  for (const line of log.line.split("\n")) deliver({ stream: log.stream, line, job_id: log.job_id, source });
}

export function emitCapturedStdout(handler: LogHandler | false | undefined, stdout: string, jobId: string, source: string): void {
  if (handler === false || !stdout) return;
  const lines = stdout.endsWith("\n") ? stdout.slice(0, -1).split("\n") : stdout.split("\n");
  for (const line of lines) (handler ?? printLog)({ stream: "stdout", line, job_id: jobId, source });
}

export function sourceLabel(label: string, workerId: string | undefined): string {
  return workerId ? `${label} @ ${workerId}` : label;
}
