/**
 * One remote call from request to result: submit (`call-control.ts`), follow the job
 * (`job-follow.ts`), map its final status (`call-outcome.ts`).
 *
 * A call whose logs or progress someone watches is submitted with `/run` and followed through
 * `/stream` from the start: each log line and progress event arrives as it is produced, from
 * the first line of the call on. A call nobody watches (`onLog: false`, `onProgress: false`)
 * is submitted with `/runsync?wait=1000`, which answers a call that finishes within a second in
 * one round trip; a longer one comes back with its id and is followed the same way. When the
 * abort comes while `/runsync` is still held, that request is left to answer (at most the 1 s
 * wait) and the cancel follows it.
 */
import { CallControl, cancelQuietly, runRequest, type InvokeSpec } from "./call-control.ts";
import { settleWithLogs, type Outcome } from "./call-outcome.ts";
import { CancelledError, FerryError } from "./errors.ts";
import { followJob, lastOf } from "./job-follow.ts";
import { progressHandlerFor } from "./progress/console.ts";
import { CallProgress } from "./progress/tracker.ts";
import { isFinalStatus, type EndpointClient, type JobStatus } from "./transport.ts";

export { printLog, type LogHandler, type RemoteLogLine } from "./call-logs.ts";
export type { CallControlOptions, InvokeSpec } from "./call-control.ts";
export { settle, type CallInfo, type CallResult, type CallTimings, type InstanceState, type Outcome } from "./call-outcome.ts";

/** How long `/runsync` holds before the call switches to following the job (RunPod's minimum). */
const RUNSYNC_WAIT_MS = 1000;

/** The call's outcome from its final status, reported to its progress as completed. */
function completed(spec: InvokeSpec, final: JobStatus, started: number, liveLogsShown: boolean, progress: CallProgress): Outcome {
  const outcome = settleWithLogs(final, started, { label: spec.label, timeoutMs: spec.options.timeoutMs, onLog: spec.options.onLog }, liveLogsShown);
  progress.completed(outcome.timings);
  return outcome;
}

/** A plain call: its outcome (result still encoded), or the error it ended with. */
export async function invoke(spec: InvokeSpec): Promise<Outcome> {
  const started = performance.now();
  const control = new CallControl(spec.options);
  const progress = new CallProgress(progressHandlerFor(spec.options.onProgress), spec.label, started);
  try {
    const client = await control.race(spec.endpoint(), () => undefined);
    const request = runRequest(spec.input, spec.options.timeoutMs);
    const watched = spec.options.onLog !== false || progress.enabled;
    let status = await control.submit(client, watched ? client.run(request) : client.runsync(request, RUNSYNC_WAIT_MS));
    progress.jobId = status.id;
    const followed = !isFinalStatus(status.status);
    if (followed) {
      const jobId = status.id;
      if (!jobId) throw new FerryError("the endpoint answered the submission without a job id");
      progress.status(status.status, client);
      try {
        // A plain call's result is in the final status (a generator's values aggregated), so values streamed on the way are not needed.
        status = await lastOf(followJob(client, jobId, control, spec, progress));
      } catch (error) {
        if (control.signal.aborted) cancelQuietly(client, jobId);
        throw error;
      }
    }
    return completed(spec, status, started, followed, progress);
  } catch (error) {
    progress.failed(error);
    throw error;
  } finally {
    progress.finish();
    control.dispose();
  }
}

/** A streaming call: yields each value (still encoded) as the job produces it; returns the outcome. */
export async function* invokeStream(spec: InvokeSpec): AsyncGenerator<unknown, Outcome, undefined> {
  const started = performance.now();
  const control = new CallControl(spec.options);
  const progress = new CallProgress(progressHandlerFor(spec.options.onProgress), spec.label, started);
  let client: EndpointClient | undefined;
  let finished = false;
  try {
    client = await control.race(spec.endpoint(), () => undefined);
    const submitted = await control.submit(client, client.run(runRequest(spec.input, spec.options.timeoutMs)));
    if (!submitted.id) throw new FerryError("the endpoint answered /run without a job id");
    const jobId = submitted.id;
    progress.jobId = jobId;
    progress.status(submitted.status, client);
    const final = yield* followJob(client, jobId, control, spec, progress);
    finished = true;
    return completed(spec, final, started, true, progress);
  } catch (error) {
    progress.failed(error);
    throw error;
  } finally {
    // The consumer stopped early (break, throw) or the call was aborted: the job must not run on.
    if (!finished && client && control.jobId) {
      cancelQuietly(client, control.jobId);
      progress.failed(new CancelledError({ jobId: control.jobId, reason: "the consumer stopped reading" }));
    }
    progress.finish();
    control.dispose();
  }
}
