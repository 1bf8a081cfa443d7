/**
 * The one retry helper: its backoff formula and jitters, `Retry-After` read as seconds or an
 * HTTP date and capped, attempts counted, a request that is not idempotent repeated only when
 * the failure proves it was not taken, and an abort that ends a wait at once with its reason.
 * Real timers throughout; timing bounds are one-sided (a wait at least as long as asked, an
 * abort well before the wait would have ended) so a loaded machine does not fail them.
 */
import { describe, expect, it } from "vitest";
import { abortableSleep, delay } from "../../protocol/abortable-sleep.ts";
import { Backoff, backoffDelay, retry, retryAfterMs, type FailureKind, type RetryInfo, type RetryOptions } from "../../protocol/retry.ts";

const quick = { baseMs: 1, maxMs: 2, jitter: "none" } as const;

/** An attempt function that fails `failures` times with errors numbered from 1, then answers "ok". */
function failing(failures: number): { attempt: (n: number) => Promise<string>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    attempt: async (n) => {
      calls.push(n);
      if (calls.length <= failures) throw new Error(`failure ${calls.length}`);
      return "ok";
    },
  };
}

function options(kind: FailureKind, more: Partial<RetryOptions> = {}): RetryOptions {
  return { retries: 3, idempotent: true, backoff: quick, classify: () => kind, ...more };
}

describe("backoff", () => {
  it("doubles from baseMs to maxMs; none keeps the ceiling, equal draws from its upper half, full from all of it", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 40].map((n) => backoffDelay(n, { ...policy, jitter: "none" }))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([0, 3].map((n) => backoffDelay(n, { ...policy, jitter: "equal" }, () => 0))).toEqual([50, 400]);
    expect([0, 3].map((n) => backoffDelay(n, { ...policy, jitter: "equal" }, () => 1))).toEqual([100, 800]);
    expect([0, 3].map((n) => backoffDelay(n, { ...policy, jitter: "full" }, () => 0))).toEqual([0, 0]);
    expect([0, 3].map((n) => backoffDelay(n, { ...policy, jitter: "full" }, () => 0.5))).toEqual([50, 400]);
    expect(backoffDelay(5, { baseMs: 10, maxMs: Number.POSITIVE_INFINITY, jitter: "none" })).toBe(320);
  });

  it("a Backoff grows with each next() and starts over after reset()", () => {
    const b = new Backoff({ baseMs: 10, maxMs: 500, jitter: "none" });
    expect(Array.from({ length: 8 }, () => b.next())).toEqual([10, 20, 40, 80, 160, 320, 500, 500]);
    b.reset();
    expect(b.next()).toBe(10);
  });
});

describe("Retry-After", () => {
  const now = Date.parse("2026-01-02T03:04:05Z");

  it("reads delay-seconds and HTTP dates", () => {
    expect(retryAfterMs("3", now)).toBe(3000);
    expect(retryAfterMs("0.25", now)).toBe(250);
    expect(retryAfterMs("Fri, 02 Jan 2026 03:04:35 GMT", now)).toBe(30_000);
    expect(retryAfterMs(new Date(now + 7000).toUTCString(), now)).toBe(7000);
  });

  it("a date in the past is no wait; absent or unreadable is no answer", () => {
    expect(retryAfterMs("Fri, 02 Jan 2026 03:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("-5", now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs("", now)).toBeUndefined();
    expect(retryAfterMs("soon", now)).toBeUndefined();
  });

  it("the wait the server asked for replaces the backoff", async () => {
    const { attempt, calls } = failing(1);
    const started = performance.now();
    const waits: number[] = [];
    await expect(
      retry(attempt, options("not-taken", { maxRetryAfterMs: 1000, classify: () => ({ kind: "not-taken", retryAfterMs: 300 }), onRetry: (i) => waits.push(i.delayMs) })),
    ).resolves.toBe("ok");
    expect(waits).toEqual([300]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(calls).toEqual([1, 2]);
  });

  it("a Retry-After beyond the cap is cut to it", async () => {
    const { attempt } = failing(1);
    const waits: number[] = [];
    await retry(attempt, options("maybe-taken", { maxRetryAfterMs: 20, classify: () => ({ kind: "maybe-taken", retryAfterMs: 3_600_000 }), onRetry: (i) => waits.push(i.delayMs) }));
    expect(waits).toEqual([20]);
  });
});

describe("retry", () => {
  it("counts attempts: retries + 1 in all, then the last failure as thrown", async () => {
    const { attempt, calls } = failing(10);
    const told: RetryInfo[] = [];
    const error = await retry(attempt, options("maybe-taken", { onRetry: (i) => told.push(i) })).catch((e: unknown) => e);
    expect((error as Error).message).toBe("failure 4");
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(told.map((i) => [i.attempt, i.attempts, (i.error as Error).message])).toEqual([
      [1, 4, "failure 1"],
      [2, 4, "failure 2"],
      [3, 4, "failure 3"],
    ]);
  });

  it("resolves with the first success", async () => {
    const { attempt, calls } = failing(2);
    await expect(retry(attempt, options("maybe-taken"))).resolves.toBe("ok");
    expect(calls).toEqual([1, 2, 3]);
  });

  it("retries: 0 is one attempt", async () => {
    const { attempt, calls } = failing(1);
    await expect(retry(attempt, options("not-taken", { retries: 0 }))).rejects.toThrow("failure 1");
    expect(calls).toEqual([1]);
  });

  it("a request that is not idempotent is not repeated after a failure that may have been taken", async () => {
    const { attempt, calls } = failing(1);
    await expect(retry(attempt, options("maybe-taken", { idempotent: false }))).rejects.toThrow("failure 1");
    expect(calls).toEqual([1]);
  });

  it("a request that is not idempotent is repeated after a failure that proves it was not taken", async () => {
    const { attempt, calls } = failing(2);
    await expect(retry(attempt, options("not-taken", { idempotent: false }))).resolves.toBe("ok");
    expect(calls).toEqual([1, 2, 3]);
  });

  it("a permanent failure is not repeated, idempotent or not", async () => {
    const { attempt, calls } = failing(1);
    await expect(retry(attempt, options("permanent"))).rejects.toThrow("failure 1");
    expect(calls).toEqual([1]);
  });

  it("an abort during a wait rejects at once with the signal's reason, and no attempt follows", async () => {
    const { attempt, calls } = failing(10);
    const controller = new AbortController();
    const reason = new Error("the caller stopped");
    const started = performance.now();
    setTimeout(() => controller.abort(reason), 50);
    const error = await retry(attempt, options("not-taken", { signal: controller.signal, maxRetryAfterMs: 60_000, classify: () => ({ kind: "not-taken", retryAfterMs: 30_000 }) })).catch(
      (e: unknown) => e,
    );
    expect(error).toBe(reason);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(calls).toEqual([1]);
  });

  it("an abort during an attempt rejects with the reason, not the attempt's failure", async () => {
    const controller = new AbortController();
    const reason = { why: "any value can be a reason" };
    const attempt = () =>
      new Promise<never>((_resolve, reject) => controller.signal.addEventListener("abort", () => reject(new Error("socket closed"))));
    setTimeout(() => controller.abort(reason), 20);
    await expect(retry(attempt, options("maybe-taken", { signal: controller.signal }))).rejects.toBe(reason);
  });

  it("a signal aborted before the start makes no attempt", async () => {
    const { attempt, calls } = failing(0);
    const reason = new Error("already stopped");
    await expect(retry(attempt, options("maybe-taken", { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    expect(calls).toEqual([]);
  });
});

describe("abortable sleeps", () => {
  it("abortableSleep rejects with the signal's own reason; delay resolves early and never rejects", async () => {
    const reason = new Error("stop");
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(reason), 20);
    await expect(abortableSleep(30_000, controller.signal)).rejects.toBe(reason);
    await expect(delay(30_000, controller.signal)).resolves.toBeUndefined();
    expect(performance.now() - started).toBeLessThan(10_000);
    await expect(abortableSleep(5)).resolves.toBeUndefined();
  });
});
