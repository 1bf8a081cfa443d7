/**
 * How many jobs the worker wants in flight, and which jobs are in flight now. The tracker is
 * also how the loop waits for a free slot: a promise that settles when a job leaves, never a
 * sleep.
 */
import type { Concurrency } from "./types.ts";

export class ConcurrencyTarget {
  private current: number;

  constructor(private readonly concurrency: Concurrency = 1) {
    // A fixed number that is not a positive integer (NaN from a bad env value) means 1.
    this.current = typeof concurrency === "number" ? (Number.isFinite(concurrency) && concurrency >= 1 ? Math.floor(concurrency) : 1) : 1;
  }

  get isModifier(): boolean {
    return typeof this.concurrency === "function";
  }

  /** The wanted number of jobs in flight, asking the modifier (if any) again. */
  next(): number {
    if (typeof this.concurrency === "function") {
      let wanted: number;
      try {
        wanted = this.concurrency(this.current);
      } catch {
        // A failing modifier must not stop the worker; the last answer stands.
        wanted = this.current;
      }
      this.current = Number.isFinite(wanted) ? Math.max(0, Math.floor(wanted)) : this.current;
    }
    return this.current;
  }
}

interface TrackedJob {
  controller: AbortController;
  cancelled: boolean;
}

export class JobTracker {
  private readonly jobs = new Map<string, TrackedJob>();
  private waiters: Array<() => void> = [];

  /** `onActiveChange` hears the active ids whenever they change (the heartbeat reports them). */
  constructor(private readonly onActiveChange?: (ids: string[]) => void) {}

  get size(): number {
    return this.jobs.size;
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  add(id: string): AbortController {
    const controller = new AbortController();
    this.jobs.set(id, { controller, cancelled: false });
    this.onActiveChange?.(this.activeIds());
    return controller;
  }

  remove(id: string): void {
    if (!this.jobs.delete(id)) return;
    this.onActiveChange?.(this.activeIds());
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Ids of jobs still running for the platform (cancelled ones are no longer reported). */
  activeIds(): string[] {
    return [...this.jobs].filter(([, job]) => !job.cancelled).map(([id]) => id);
  }

  isCancelled(id: string): boolean {
    return this.jobs.get(id)?.cancelled ?? false;
  }

  /** Marks the job cancelled and aborts its signal; false when it is not here. */
  cancel(id: string, reason: Error): boolean {
    const job = this.jobs.get(id);
    if (!job || job.cancelled) return false;
    job.cancelled = true;
    this.onActiveChange?.(this.activeIds());
    job.controller.abort(reason);
    return true;
  }

  abortAll(reason: Error): void {
    for (const job of this.jobs.values()) job.controller.abort(reason);
  }

  /** Settles when a job leaves, when `signal` aborts, or after `timeoutMs` (if given). */
  waitForChange(signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      if (signal?.aborted) return resolve();
      this.waiters.push(done);
      signal?.addEventListener("abort", done, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
    });
  }

  /** Settles once no job is in flight. */
  async drained(): Promise<void> {
    while (this.jobs.size > 0) await this.waitForChange();
  }
}
