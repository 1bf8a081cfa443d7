/**
 * The cancel channel: a long poll on the job-take URL with `/job-take/` replaced by
 * `/job-stop/`. A JSON answer `{"jobsToStop": [ids]}` cancels those jobs; 204 means nothing.
 */
import { z } from "zod";
import type { Logger } from "../logger.ts";
import { Backoff, delay } from "./backoff.ts";
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
  const { http, timing, signal, logger } = options;
  const backoff = new Backoff(timing.backoffBaseMs, timing.backoffMaxMs);
  while (!signal.aborted) {
    let res: HttpAnswer;
    try {
      res = await http.get(options.url, signal, timing.longPollTimeoutMs);
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof Error && error.name === "TimeoutError") continue;
      logger.warn({ detail: error instanceof Error ? error.message : String(error) }, "job-stop poll failed");
      await delay(backoff.next(), signal);
      continue;
    }
    if (res.status === 429) {
      await delay(timing.rateLimitWaitMs, signal);
      continue;
    }
    if (res.status === 204 || res.status === 400) {
      backoff.reset();
      continue;
    }
    if (!res.ok) {
      logger.warn({ status: res.status }, "job-stop poll answered with an error");
      await delay(backoff.next(), signal);
      continue;
    }
    backoff.reset();
    let body: unknown;
    try {
      body = res.text.trim() === "" ? undefined : JSON.parse(res.text);
    } catch {
      logger.warn({ body: res.text.slice(0, 200) }, "job-stop poll answer is not JSON; ignored");
      continue;
    }
    if (body === undefined) continue;
    const parsed = StopAnswerSchema.safeParse(body);
    if (!parsed.success) {
      logger.warn("job-stop poll answered without a jobsToStop list; ignored");
      continue;
    }
    if (parsed.data.jobsToStop.length > 0) options.onStop(parsed.data.jobsToStop);
  }
}
