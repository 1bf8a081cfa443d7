/**
 * Following a submitted job to its final status through `/stream` (held by the server until a
 * chunk or the end), then `/status` for the output: each log line and progress event reaches
 * its handler as it is produced, and values are yielded as they arrive.
 */
import { abortableSleep } from "../protocol/abortable-sleep.ts";
import { Backoff } from "../protocol/retry.ts";
import type { CallControl, InvokeSpec } from "./call-control.ts";
import { emitLog, sourceLabel } from "./call-logs.ts";
import type { CallProgress } from "./progress/tracker.ts";
import { chunksOf } from "./stream-chunks.ts";
import { isFinalStatus, type EndpointClient, type JobStatus } from "./transport.ts";

/** A `/stream` answer sooner than this, with nothing in it, was not held by the server. */
const UNHELD_ANSWER_MS = 50;

/**
 * Follows a job until it is final: log lines go to the handler, values are yielded, and the
 * final status (from `/status`) is the return value. An abort surfaces as the call's error
 * (CancelledError / RemoteTimeoutError); cancelling the job on the endpoint is left to the
 * caller, which knows whether the job may still be running.
 */
export async function* followJob(
  client: EndpointClient,
  jobId: string,
  control: CallControl,
  spec: InvokeSpec,
  progress: CallProgress,
): AsyncGenerator<unknown, JobStatus, undefined> {
  // A server that holds /stream answers when there is news; one that answers at once with
  // nothing gets a growing pause (10 ms doubling to 500 ms), so this loop never spins.
  const quiet = new Backoff({ baseMs: 10, maxMs: 500, jitter: "none" });
  try {
    for (;;) {
      const asked = performance.now();
      const answer = await client.stream(jobId, control.signal);
      let got = 0;
      const values: unknown[] = [];
      for (const chunk of chunksOf(answer.stream)) {
        got++;
        if (chunk.log) emitLog(spec.options.onLog, chunk.log, sourceLabel(spec.label, chunk.log.worker_id ?? progress.workerId));
        else if (chunk.progress) progress.fromWorker(chunk.progress);
        else if ("value" in chunk) values.push(chunk.value);
      }
      progress.status(answer.status, client);
      for (const value of values) {
        progress.value();
        yield value;
        if (control.signal.aborted) throw control.error();
      }
      if (isFinalStatus(answer.status)) break;
      if (got === 0 && performance.now() - asked < UNHELD_ANSWER_MS) await abortableSleep(quiet.next(), control.signal);
      else quiet.reset();
    }
    return await client.status(jobId, control.signal);
  } catch (error) {
    if (control.signal.aborted) throw control.error();
    throw error;
  }
}

/** Runs a generator to its end, dropping what it yields; resolves with its return value. */
export async function lastOf<R>(generator: AsyncGenerator<unknown, R, undefined>): Promise<R> {
  for (;;) {
    const step = await generator.next();
    if (step.done) return step.value;
  }
}
