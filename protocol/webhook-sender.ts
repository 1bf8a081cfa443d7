/**
 * Webhooks as RunPod sends them: one POST of a job's final status object to the URL given at
 * `/run`, tried again (10 s apart, twice) while the receiver does not answer 2xx. Both endpoint
 * emulators send them: the local server and the worker's own local API.
 */
import type { Logger } from "./logger.ts";
import { retry } from "./retry.ts";

export interface WebhookOptions {
  logger: Logger;
  /** Tries after the first (RunPod: 2). */
  retries?: number | undefined;
  retryDelayMs?: number | undefined;
  /** How long one POST may take before it counts as failed. */
  timeoutMs?: number | undefined;
  fetch?: typeof fetch | undefined;
}

export class WebhookSender {
  /** Aborted by close(): cuts every POST in flight and every wait for another try. */
  private readonly closing = new AbortController();
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: WebhookOptions) {
    this.retries = options.retries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? fetch;
  }

  /** Sends in the background; the outcome is logged (a webhook's receiver is the caller's concern, not the job's). */
  send(url: string, payload: unknown, jobId: string): void {
    void this.deliver(url, JSON.stringify(payload), jobId);
  }

  /** Stops at once: a process that is shutting down must not linger for a webhook. */
  close(): void {
    this.closing.abort(new Error("the server is stopping"));
  }

  private async deliver(url: string, body: string, jobId: string): Promise<void> {
    const { logger } = this.options;
    const where = redactUrl(url);
    const post = async (): Promise<void> => {
      const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.timeoutMs)]);
      const res = await this.fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, signal });
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
    };
    try {
      await retry(post, {
        retries: this.retries,
        // The status object is the same each time; a receiver that saw it twice sees the same job.
        idempotent: true,
        backoff: { baseMs: this.retryDelayMs, maxMs: this.retryDelayMs, jitter: "none" },
        classify: () => "maybe-taken",
        signal: this.closing.signal,
        onRetry: ({ error }) => logger.info({ jobId, url: where, failure: (error as Error).message }, "webhook not accepted; retrying"),
      });
    } catch (error) {
      if (this.closing.signal.aborted) logger.warn({ jobId, url: where }, "webhook not accepted; not retried because the server is stopping");
      else logger.warn({ jobId, url: where, failure: (error as Error).message }, `webhook failed after ${this.retries + 1} attempts; giving up`);
    }
  }
}

/** Webhook URLs often carry a token in the query; logs show only origin and path. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "(invalid url)";
  }
}
