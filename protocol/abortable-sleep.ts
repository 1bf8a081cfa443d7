/**
 * Waiting that an `AbortSignal` cuts short, on `node:timers/promises`' `setTimeout` (which
 * clears its timer and listener on abort). Two shapes, because callers mean two things by an
 * abort: a request's backoff that must fail with the caller's reason, and a service loop's
 * pause after which the loop itself sees it is stopping.
 */
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Resolves after `ms`; an abort rejects at once with the signal's own reason (node's timer
 * rejects with an AbortError wrapping it, which callers would have to unwrap).
 */
export async function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts; never rejects. */
export async function delay(ms: number, signal?: AbortSignal): Promise<void> {
  await sleep(ms, undefined, signal ? { signal } : undefined).catch(() => undefined);
}
