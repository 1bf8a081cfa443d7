/**
 * HTTP to RunPod's job API: the API key goes raw in `Authorization`, and posts (job-done,
 * stream) are retried on 5xx and on network errors, never on 4xx.
 *
 * Retrying network errors is a deliberate difference from RunPod's Python library, which
 * retries 5xx only: a post lost to a dropped connection or a timeout would lose a job's result
 * (or a stream chunk) for good, and the platform would never hear how the job ended. The price
 * is that a post whose answer, not its request, was lost can arrive twice (a stream chunk seen
 * twice); that is judged the smaller harm.
 */
import type { Logger } from "../../protocol/logger.ts";
import { retry } from "../../protocol/retry.ts";
import type { HttpAnswer, HttpTransport } from "./http-transport.ts";
import type { WorkerTiming } from "./types.ts";

export interface RunpodHttpOptions {
  apiKey?: string;
  transport: HttpTransport;
  timing: WorkerTiming;
  logger: Logger;
}

export type { HttpAnswer } from "./http-transport.ts";

type PostOutcome = { ok: true } | { ok: false; detail: string };

export class RunpodHttp {
  constructor(private readonly options: RunpodHttpOptions) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.options.apiKey) headers.Authorization = this.options.apiKey;
    return headers;
  }

  /** A GET whose whole body is read before it returns; `timeoutMs` bounds the whole exchange. */
  get(url: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<HttpAnswer> {
    return this.options.transport(url, { method: "GET", headers: this.headers(), signal, timeoutMs });
  }

  /**
   * POSTs JSON text; `ok` when the server accepted it, else why the last attempt failed. The
   * headers are the ones RunPod's own worker library sends (a form content type with a JSON
   * body): the platform is known to accept exactly those.
   */
  async post(url: string, body: string, what: string): Promise<PostOutcome> {
    const { timing, logger } = this.options;
    try {
      await retry((attempt) => this.postOnce(url, body, attempt), {
        retries: Math.max(0, timing.postAttempts - 1),
        // Repeated even when the answer, not the request, was lost (see the top of this file).
        idempotent: true,
        backoff: { baseMs: timing.postRetryDelayMs, maxMs: timing.postRetryDelayMs * 2 ** 4, jitter: "none" },
        classify: (error) => (error instanceof PostFailure && !error.retryable ? "permanent" : "maybe-taken"),
        onRetry: ({ error, attempt }) => logger.warn({ attempt, detail: detailOf(error) }, `${what} post failed, retrying`),
      });
      return { ok: true };
    } catch (error) {
      const detail = detailOf(error);
      logger.error({ attempt: error instanceof PostFailure ? error.attempt : undefined, detail }, `${what} post failed`);
      return { ok: false, detail };
    }
  }

  private async postOnce(url: string, body: string, attempt: number): Promise<void> {
    let res: HttpAnswer;
    try {
      res = await this.options.transport(url, {
        method: "POST",
        headers: this.headers({ "Content-Type": "application/x-www-form-urlencoded", charset: "utf-8" }),
        body,
        timeoutMs: this.options.timing.postTimeoutMs,
      });
    } catch (error) {
      throw new PostFailure(error instanceof Error ? error.message : String(error), true, attempt);
    }
    if (!res.ok) throw new PostFailure(`HTTP ${res.status}${res.text ? `: ${res.text.slice(0, 200)}` : ""}`, res.status >= 500, attempt);
  }
}

/** Why one post attempt failed; only a 5xx or a network failure is worth another. */
class PostFailure extends Error {
  constructor(
    readonly detail: string,
    readonly retryable: boolean,
    readonly attempt: number,
  ) {
    super(detail);
  }
}

function detailOf(error: unknown): string {
  return error instanceof PostFailure ? error.detail : error instanceof Error ? error.message : String(error);
}
