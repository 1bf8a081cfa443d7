/**
 * The worker's waits between polls: after an unexpected error, and after an empty answer that
 * came back at once. Both are `protocol/retry.ts`' capped doubling with equal jitter: spread so
 * that many workers do not poll in lockstep, and never near zero, so a failing server is not
 * asked again straight away.
 */
import { Backoff as CappedBackoff } from "../../protocol/retry.ts";

/** `baseMs * 2^n` capped at `maxMs`, scaled into [50%, 100%] of that. */
export class Backoff extends CappedBackoff {
  constructor(baseMs: number, maxMs: number, random: () => number = Math.random) {
    super({ baseMs, maxMs, jitter: "equal" }, random);
  }
}

/**
 * Paces a long poll whose server may answer "nothing" at once. RunPod allows that (400 is the
 * normal empty answer with FlashBoot), and polling again straight away would spin a core and
 * flood the server. An empty answer that came back quicker than `quickMs` earns a growing wait;
 * one the server held longer was a real long poll, so the next poll goes out at once.
 */
export class EmptyPollPacer {
  private readonly backoff: Backoff;

  constructor(
    private readonly quickMs: number,
    baseMs: number,
    maxMs: number,
    random: () => number = Math.random,
  ) {
    this.backoff = new Backoff(baseMs, maxMs, random);
  }

  /** How long to wait after an empty answer that took `elapsedMs`; 0 after a held poll. */
  afterEmpty(elapsedMs: number): number {
    if (elapsedMs >= this.quickMs) {
      this.backoff.reset();
      return 0;
    }
    return this.backoff.next();
  }

  /** Work arrived: the server is live, so the next empty answers start from the shortest wait. */
  reset(): void {
    this.backoff.reset();
  }
}
