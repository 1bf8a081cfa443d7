/**
 * HTTP to RunPod's job API: the API key goes raw in `Authorization`, and posts (job-done,
 * stream) are retried on 5xx and network errors only.
 */
import type { Logger } from "../logger.ts";
import { delay } from "./backoff.ts";
import type { WorkerTiming } from "./types.ts";

export interface RunpodHttpOptions {
  apiKey?: string;
  fetch: typeof fetch;
  timing: WorkerTiming;
  logger: Logger;
}

export interface HttpAnswer {
  status: number;
  ok: boolean;
  contentType: string;
  text: string;
}

export class RunpodHttp {
  constructor(private readonly options: RunpodHttpOptions) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.options.apiKey) headers.Authorization = this.options.apiKey;
    return headers;
  }

  /**
   * A GET whose whole body is read before it returns; `timeoutMs` bounds the whole exchange.
   * The signals are joined by hand rather than with AbortSignal.any, whose dependents a
   * long-lived `signal` (the worker's stop signal) would collect over millions of polls.
   */
  async get(url: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<HttpAnswer> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new DOMException(`no answer in ${timeoutMs} ms`, "TimeoutError")), timeoutMs);
    try {
      const res = await this.options.fetch(url, { method: "GET", headers: this.headers(), signal: controller.signal });
      const text = await res.text();
      return { status: res.status, ok: res.ok, contentType: res.headers.get("content-type") ?? "", text };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * POSTs JSON text; true when the server accepted it. The headers are the ones RunPod's own
   * worker library sends (a form content type with a JSON body): the platform is known to
   * accept exactly those.
   */
  async post(url: string, body: string, what: string): Promise<boolean> {
    const { timing, logger } = this.options;
    for (let attempt = 1; attempt <= timing.postAttempts; attempt++) {
      let retryable: boolean;
      let detail: string;
      try {
        const res = await this.options.fetch(url, {
          method: "POST",
          headers: this.headers({ "Content-Type": "application/x-www-form-urlencoded", charset: "utf-8" }),
          body,
          signal: AbortSignal.timeout(timing.postTimeoutMs),
        });
        const text = await res.text().catch(() => "");
        if (res.ok) return true;
        retryable = res.status >= 500;
        detail = `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
      } catch (error) {
        retryable = true;
        detail = error instanceof Error ? error.message : String(error);
      }
      if (!retryable || attempt === timing.postAttempts) {
        logger.error({ attempt, detail }, `${what} post failed`);
        return false;
      }
      logger.warn({ attempt, detail }, `${what} post failed, retrying`);
      await delay(timing.postRetryDelayMs * attempt);
    }
    return false;
  }
}
