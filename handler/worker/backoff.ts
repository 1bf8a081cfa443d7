/**
 * Waiting between retries: capped exponential backoff with jitter, so a failing job server is
 * not hammered and many workers do not retry in lockstep.
 */

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay: base * 2^n capped at max, then scaled into [50%, 100%] of that. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling * (0.5 + 0.5 * this.random()));
  }

  reset(): void {
    this.attempt = 0;
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

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
