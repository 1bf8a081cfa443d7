/**
 * One retry loop and one backoff formula for every caller that tries a request again: the SDK's
 * HTTP client, the worker's result posts, the Hugging Face downloads, a call's quiet `/stream`
 * polls and the local server's worker restarts.
 *
 * Hand-written rather than taken from npm: p-retry (9.x) has no per-failure delay, so a server's
 * `Retry-After` cannot be honoured, and jitters only upwards; exponential-backoff (3.x) takes no
 * AbortSignal. Both are a loop and a formula; this file is the same and fits the callers' rules.
 *
 * Whether a failure may be tried again is the caller's judgement, in two parts: what the failure
 * says about the request (turned away before anything happened, possibly acted on, or hopeless),
 * and whether the request is idempotent (sending it twice does no more than sending it once). A
 * request that is not is only repeated when the failure proves it was not acted on, since a
 * second copy could start a second job or create a second endpoint.
 */
import { abortableSleep } from "./abortable-sleep.ts";

/**
 * How the pause is spread below its ceiling, so that many clients that failed together do not
 * come back together: `none` keeps it, `equal` draws from its upper half (never a retry at once),
 * `full` draws from all of it (the least load on a struggling server).
 */
export type Jitter = "none" | "equal" | "full";

export interface BackoffPolicy {
  /** The first pause's ceiling; each later one doubles it. */
  baseMs: number;
  /** No ceiling grows beyond this. */
  maxMs: number;
  jitter: Jitter;
}

/** The pause before retry number `retry` (0 for the first): `baseMs * 2^retry` capped at `maxMs`, jittered, whole milliseconds. */
export function backoffDelay(retry: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  // 2^30 already passes any cap worth having; a larger exponent would only reach Infinity.
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(retry, 30));
  switch (policy.jitter) {
    case "none":
      return Math.round(ceiling);
    case "equal":
      return Math.round(ceiling * (0.5 + 0.5 * random()));
    case "full":
      return Math.round(ceiling * random());
  }
}

/** The backoff of a loop that keeps going (a poll): each `next()` pause is longer, until `reset()` after a success. */
export class Backoff {
  private retries = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    return backoffDelay(this.retries++, this.policy, this.random);
  }

  reset(): void {
    this.retries = 0;
  }
}

/**
 * `Retry-After` in milliseconds from now: delay-seconds or an HTTP date (RFC 9110 10.2.3).
 * Undefined when absent or unreadable; a date in the past is 0.
 */
export function retryAfterMs(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (header === null || header === undefined || header.trim() === "") return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * What a failed attempt says about the request:
 * - `not-taken`: it cannot have been acted on (a 429, no connection made): safe to send again;
 * - `maybe-taken`: it may have been (a gateway error, a connection broken mid-request): sent
 *   again only when the request is idempotent;
 * - `permanent`: another try would fail the same way.
 */
export type FailureKind = "not-taken" | "maybe-taken" | "permanent";

export interface FailureVerdict {
  kind: FailureKind;
  /** The wait the server asked for (`Retry-After`), in place of the backoff's. */
  retryAfterMs?: number | undefined;
}

export interface RetryInfo {
  error: unknown;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** Attempts in all: `retries + 1`. */
  attempts: number;
  delayMs: number;
}

export interface RetryOptions {
  /** Tries after the first. */
  retries: number;
  /** Whether sending the request twice does no more than sending it once. */
  idempotent: boolean;
  backoff: BackoffPolicy;
  /** A `Retry-After` longer than this is cut to it, so a server cannot park a client for hours. Default `backoff.maxMs`. */
  maxRetryAfterMs?: number | undefined;
  classify: (error: unknown) => FailureKind | FailureVerdict;
  /** Stops the attempts and the waits at once; the promise rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Told before each wait (for a log line). */
  onRetry?: ((info: RetryInfo) => void) | undefined;
  random?: (() => number) | undefined;
}

function mayRetry(kind: FailureKind, idempotent: boolean): boolean {
  return kind === "not-taken" || (kind === "maybe-taken" && idempotent);
}

/**
 * Runs `attempt` (given its number, from 1) until it resolves, a failure is not worth another
 * try, or the retries are spent; then rejects with the last failure as thrown.
 */
export async function retry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { signal } = options;
  const attempts = options.retries + 1;
  for (let n = 1; ; n++) {
    signal?.throwIfAborted();
    try {
      return await attempt(n);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const found = options.classify(error);
      const verdict = typeof found === "string" ? { kind: found } : found;
      if (n >= attempts || !mayRetry(verdict.kind, options.idempotent)) throw error;
      const backoff = backoffDelay(n - 1, options.backoff, options.random);
      const delayMs =
        verdict.retryAfterMs === undefined ? backoff : Math.min(options.maxRetryAfterMs ?? options.backoff.maxMs, verdict.retryAfterMs);
      options.onRetry?.({ error, attempt: n, attempts, delayMs });
      await abortableSleep(delayMs, signal);
    }
  }
}
