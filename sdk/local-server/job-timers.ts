/**
 * The local server's job clocks: one execution timer per running job (its `executionTimeout`),
 * and the periodic sweep that removes jobs past their TTL or result retention (reads also check
 * expiry, so the sweep only bounds how long a forgotten job occupies memory).
 */

export class ExecutionTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  /** Calls `onTimeout` after `ms` unless cleared first; replaces a timer the job already had. */
  start(jobId: string, ms: number, onTimeout: () => void): void {
    this.clear(jobId);
    const timer = setTimeout(() => {
      this.timers.delete(jobId);
      onTimeout();
    }, ms);
    timer.unref();
    this.timers.set(jobId, timer);
  }

  clear(jobId: string): void {
    const timer = this.timers.get(jobId);
    if (!timer) return;
    clearTimeout(timer);
    this.timers.delete(jobId);
  }

  clearAll(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}

/** Runs `sweep` every `intervalMs` without keeping the process alive; answers the stop. */
export function startSweep(intervalMs: number, sweep: () => void): () => void {
  const timer = setInterval(sweep, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
