/**
 * The RunPod job loop: take as many jobs as concurrency allows, run each, stream and post its
 * result; ping and watch for cancels alongside. A graceful stop (signal, `stopSignal`, or a
 * job's `refresh_worker`) ends taking, lets in-flight jobs finish and post, then returns.
 */
import type { HttpTransport } from "./http-transport.ts";
import { ErrorType } from "../../protocol/error-types.ts";
import type { Logger } from "../../protocol/logger.ts";
import { delay } from "../../protocol/abortable-sleep.ts";
import { Backoff, EmptyPollPacer } from "./backoff.ts";
import type { RunpodEnvironment } from "./config.ts";
import { ConcurrencyTarget, JobTracker } from "./concurrency.ts";
import { startHeartbeat, type Heartbeat } from "./heartbeat.ts";
import { RunpodHttp } from "./http.ts";
import { takeJobs } from "./job-take.ts";
import { errorBody, jobDoneBody, serializeBody, type ErrorOrigin } from "./results.ts";
import { abortReason, executeJob } from "./run-job.ts";
import { runStopPoll } from "./stop-poll.ts";
import { postStreamItem } from "./stream.ts";
import type { Concurrency, JobHandler, RunpodJob, WorkerTiming } from "./types.ts";
import { jobDoneUrl, jobStopUrl, jobTakeUrl } from "./url-templates.ts";

export interface WorkerLoopOptions {
  handler: JobHandler;
  concurrency?: Concurrency;
  returnAggregateStream: boolean;
  runpod: RunpodEnvironment & { getJobUrl: string };
  origin: ErrorOrigin;
  timing: WorkerTiming;
  transport: HttpTransport;
  logger: Logger;
  /** Aborted: stop gracefully. */
  stop: AbortController;
  /** Aborted: abort every in-flight job's signal as well. */
  hardStop: AbortSignal;
}

export async function runWorkerLoop(options: WorkerLoopOptions): Promise<void> {
  const { runpod, timing, logger, handler, origin } = options;
  const stop = options.stop.signal;
  const http = new RunpodHttp({ apiKey: runpod.apiKey, transport: options.transport, timing, logger });
  let heartbeat: Heartbeat | undefined;
  const tracker = new JobTracker((ids) => heartbeat?.setJobIds(ids));
  const target = new ConcurrencyTarget(options.concurrency);
  const workerId = runpod.workerId;

  const onHardStop = () => tracker.abortAll(abortReason("WorkerShutdown", "the worker is shutting down"));
  options.hardStop.addEventListener("abort", onHardStop, { once: true });

  if (runpod.pingUrl && runpod.apiKey && runpod.podIdSet) {
    heartbeat = startHeartbeat({
      template: runpod.pingUrl,
      workerId,
      apiKey: runpod.apiKey,
      intervalMs: runpod.pingIntervalMs,
      version: origin.version,
      logger: logger.child({ component: "heartbeat" }),
    });
  } else {
    logger.debug("heartbeat off: RUNPOD_WEBHOOK_PING, RUNPOD_AI_API_KEY and RUNPOD_POD_ID are all needed");
  }

  // Cancels still matter while in-flight jobs drain, so this poll ends after them.
  const stopPollEnd = new AbortController();
  const stopPoll = runStopPoll({
    http,
    url: jobStopUrl(runpod.getJobUrl, workerId),
    timing,
    signal: stopPollEnd.signal,
    logger: logger.child({ component: "job-stop" }),
    onStop: (ids) => {
      for (const id of ids) {
        if (tracker.cancel(id, abortReason("Cancelled", "the job was cancelled"))) logger.info({ jobId: id }, "job cancelled by the platform");
      }
    },
  });

  const runOne = async (job: RunpodJob, controller: AbortController) => {
    const jobLogger = logger.child({ jobId: job.id });
    try {
      jobLogger.debug("job started");
      const outcome = await executeJob(
        handler,
        job,
        { signal: controller.signal, logger: jobLogger, workerId },
        {
          aggregate: options.returnAggregateStream,
          onYield: async (value) => {
            if (tracker.isCancelled(job.id) || !runpod.postStreamUrl) return;
            // Throws when the chunk cannot be delivered; the job then fails with that error.
            await postStreamItem(http, runpod.postStreamUrl, workerId, job.id, value);
          },
          onProgress: async (output) => {
            if (tracker.isCancelled(job.id) || !runpod.postOutputUrl) return;
            const posted = await http.post(jobDoneUrl(runpod.postOutputUrl, workerId, job.id, false), JSON.stringify({ status: "IN_PROGRESS", output }), "progress");
            if (!posted.ok) jobLogger.warn({ detail: posted.detail }, "a progress update was not accepted");
          },
        },
      );
      if (tracker.isCancelled(job.id)) {
        jobLogger.info("job cancelled; nothing posted");
        return;
      }
      const body = outcome.kind === "returned" ? jobDoneBody(outcome.output) : errorBody(outcome.error, origin);
      if (outcome.kind === "threw") jobLogger.error({ err: outcome.error }, "handler failed");
      if (!runpod.postOutputUrl) {
        jobLogger.error("RUNPOD_WEBHOOK_POST_OUTPUT is not set; the result cannot be posted");
      } else {
        const url = jobDoneUrl(runpod.postOutputUrl, workerId, job.id, outcome.isStream);
        const text = serializeBody(body, origin);
        const posted = await http.post(url, text, "job-done");
        if (posted.ok) jobLogger.info({ failed: body.error !== undefined }, "job finished and posted");
        else await postUndeliverable(http, url, text.length, posted.detail, origin, jobLogger);
      }
      if (body.stopPod) {
        jobLogger.info("refresh_worker asked: the worker stops after this job");
        options.stop.abort();
      }
    } catch (error) {
      jobLogger.error({ err: error }, "job runner failed");
    } finally {
      tracker.remove(job.id);
    }
  };

  const backoff = new Backoff(timing.backoffBaseMs, timing.backoffMaxMs);
  const pacer = new EmptyPollPacer(timing.quickEmptyPollMs, timing.quickEmptyPollBaseMs, timing.quickEmptyPollMaxMs);
  while (!stop.aborted) {
    const wanted = target.next() - tracker.size;
    if (wanted <= 0) {
      await tracker.waitForChange(stop, target.isModifier ? timing.concurrencyRecheckMs : undefined);
      continue;
    }
    const url = jobTakeUrl(runpod.getJobUrl, workerId, wanted, tracker.size > 0);
    const askedAt = performance.now();
    const taken = await takeJobs(http, url, stop, timing.longPollTimeoutMs, logger);
    switch (taken.kind) {
      case "stopped":
        break;
      case "none": {
        backoff.reset();
        const wait = pacer.afterEmpty(performance.now() - askedAt);
        if (wait > 0) await delay(wait, stop);
        break;
      }
      case "rate-limited":
        logger.debug("job take rate limited; waiting");
        await delay(timing.rateLimitWaitMs, stop);
        break;
      case "error": {
        const wait = backoff.next();
        logger.warn({ waitMs: wait }, taken.message);
        await delay(wait, stop);
        break;
      }
      case "jobs":
        backoff.reset();
        pacer.reset();
        for (const job of taken.jobs) {
          if (tracker.has(job.id)) {
            logger.warn({ jobId: job.id }, "job taken twice while in flight; the second copy is skipped");
            continue;
          }
          void runOne(job, tracker.add(job.id));
        }
        break;
    }
  }

  if (tracker.size > 0) logger.info({ inFlight: tracker.size }, "stopping: finishing the jobs in flight");
  await tracker.drained();
  options.hardStop.removeEventListener("abort", onHardStop);
  stopPollEnd.abort();
  await stopPoll;
  await heartbeat?.stop();
}

/**
 * A result the platform refused (too large, or malformed to it) or that could not be delivered:
 * the job still ends, FAILED with the reason, instead of staying IN_PROGRESS for good.
 */
async function postUndeliverable(http: RunpodHttp, url: string, size: number, detail: string, origin: ErrorOrigin, logger: Logger): Promise<void> {
  const error = new Error(
    `the job finished but its result (${size} bytes as JSON) could not be delivered: ${detail}. ` +
      "Values too large for the job API travel as blobs when the caller gives the worker places for them (Ferry's SDK does, with a blob store).",
  );
  error.name = ErrorType.ResultDeliveryError;
  const posted = await http.post(url, serializeBody(errorBody(error, origin), origin), "job-done (undeliverable result)");
  if (posted.ok) logger.warn({ size }, "the result could not be delivered; the job was posted as failed");
}
