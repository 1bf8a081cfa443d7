/**
 * How long an endpoint waits before starting another worker after workers of it failed to
 * start: 0.5 s after the first failure, doubling with each one, at most 30 s; a worker that
 * reaches the server clears it.
 */
import { backoffDelay } from "../../protocol/retry.ts";

const START_BACKOFF = { baseMs: 500, maxMs: 30_000, jitter: "none" } as const;

export class StartBackoff {
  private readonly failures = new Map<string, { count: number; until: number }>();

  /** The time before which no worker of the endpoint should start; undefined when one may start now. */
  blockedUntil(endpointId: string, now: number): number | undefined {
    const failures = this.failures.get(endpointId);
    return failures && failures.until > now ? failures.until : undefined;
  }

  noteFailure(endpointId: string): void {
    const previous = this.failures.get(endpointId)?.count ?? 0;
    const count = previous + 1;
    const delayMs = backoffDelay(count - 1, START_BACKOFF);
    this.failures.set(endpointId, { count, until: Date.now() + delayMs });
  }

  clear(endpointId: string): void {
    this.failures.delete(endpointId);
  }
}
