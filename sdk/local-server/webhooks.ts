/**
 * Webhooks: one POST of the job's final status object to the URL given at `/run`, retried
 * twice (10 s apart by default, as RunPod does) when the receiver does not answer 2xx.
 */
import type { Logger } from "../../protocol/logger.ts";

export interface WebhookOptions {
  logger: Logger;
  retries?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

export class WebhookSender {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  private closed = false;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: WebhookOptions) {
    this.retries = options.retries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  send(url: string, payload: unknown, jobId: string): void {
    this.attempt(url, JSON.stringify(payload), jobId, 0);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.inFlight) controller.abort();
  }

  private attempt(url: string, body: string, jobId: string, attempt: number): void {
    if (this.closed) return;
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort(), this.timeoutMs);
    this.inFlight.add(controller);
    fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, signal: controller.signal })
      .then(async (res) => {
        await res.body?.cancel();
        if (res.status >= 200 && res.status < 300) return undefined;
        return `HTTP ${res.status}`;
      })
      .catch((err: unknown) => (err as Error).message ?? String(err))
      .then((failure) => {
        clearTimeout(deadline);
        this.inFlight.delete(controller);
        if (failure === undefined || this.closed) return;
        if (attempt >= this.retries) {
          this.options.logger.warn({ jobId, url: redactUrl(url), failure }, `webhook failed after ${attempt + 1} attempts; giving up`);
          return;
        }
        this.options.logger.info({ jobId, url: redactUrl(url), failure }, "webhook not accepted; retrying");
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.attempt(url, body, jobId, attempt + 1);
        }, this.retryDelayMs);
        timer.unref();
        this.timers.add(timer);
      });
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
