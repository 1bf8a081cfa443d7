/**
 * The cancel channel: a long poll on the job-take URL with `/job-take/` replaced by
 * `/job-stop/`. A JSON answer `{"jobsToStop": [ids]}` cancels those jobs; 204 means nothing.
 */
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import { delay } from "../../protocol/abortable-sleep.ts";
import { Backoff, EmptyPollPacer } from "./backoff.ts";
import type { HttpAnswer, RunpodHttp } from "./http.ts";
import type { WorkerTiming } from "./types.ts";

const StopAnswerSchema = z.object({ jobsToStop: z.array(z.string()) });

export interface StopPollOptions {
  http: RunpodHttp;
  url: string;
  timing: WorkerTiming;
  signal: AbortSignal;
  logger: Logger;
  onStop: (jobIds: string[]) => void;
}

/** Polls until `signal` aborts. */
export async function runStopPoll(options: StopPollOptions): Promise<void> {
  const { timing, signal } = options;
  const backoff = new Backoff(timing.backoffBaseMs, timing.backoffMaxMs);
  const pacer = new EmptyPollPacer(timing.quickEmptyPollMs, timing.quickEmptyPollBaseMs, timing.quickEmptyPollMaxMs);
  while (!signal.aborted) {
    const askedAt = performance.now();
    const answer = await pollOnce(options, backoff);
    if (answer.kind === "empty") {
      const wait = pacer.afterEmpty(performance.now() - askedAt);
      if (wait > 0) await delay(wait, signal);
    } else if (answer.kind === "stop") {
      pacer.reset();
      options.onStop(answer.ids);
    }
  }
}

/** Ids to stop; an answer with nothing to act on; or a failure already waited out (backoff, 429). */
type StopAnswer = { kind: "stop"; ids: string[] } | { kind: "empty" } | { kind: "waited" };

async function pollOnce(options: StopPollOptions, backoff: Backoff): Promise<StopAnswer> {
  const { http, timing, signal, logger } = options;
  let res: HttpAnswer;
  try {
    res = await http.get(options.url, signal, timing.longPollTimeoutMs);
  } catch (error) {
    // Stopping, or the long poll ran its full time with nothing to stop.
    if (signal.aborted || (error instanceof Error && error.name === "TimeoutError")) return { kind: "empty" };
    logger.warn({ detail: error instanceof Error ? error.message : String(error) }, "job-stop poll failed");
    await delay(backoff.next(), signal);
    return { kind: "waited" };
  }
  if (res.status === 429) {
    await delay(timing.rateLimitWaitMs, signal);
    return { kind: "waited" };
  }
  if (res.status === 204 || res.status === 400) {
    backoff.reset();
    return { kind: "empty" };
  }
  if (!res.ok) {
    logger.warn({ status: res.status }, "job-stop poll answered with an error");
    await delay(backoff.next(), signal);
    return { kind: "waited" };
  }
  backoff.reset();
  let body: unknown;
  try {
    body = res.text.trim() === "" ? undefined : JSON.parse(res.text);
  } catch {
    logger.warn({ body: res.text.slice(0, 200) }, "job-stop poll answer is not JSON; ignored");
    return { kind: "empty" };
  }
  if (body === undefined) return { kind: "empty" };
  const parsed = StopAnswerSchema.safeParse(body);
  if (!parsed.success) {
    logger.warn("job-stop poll answered without a jobsToStop list; ignored");
    return { kind: "empty" };
  }
  return parsed.data.jobsToStop.length > 0 ? { kind: "stop", ids: parsed.data.jobsToStop } : { kind: "empty" };
}
