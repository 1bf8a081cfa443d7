/**
 * Workers' long-polling takes that found no job: each waits, per endpoint and oldest first,
 * until jobs are queued, its wait ends, its signal aborts, or it is answered with no job.
 */
import type { Job } from "./job.ts";

interface TakeWaiter {
  workerId: string;
  max: number;
  resolve: (jobs: Job[]) => void;
}

export class TakeWaits {
  private readonly byEndpoint = new Map<string, TakeWaiter[]>();

  /** Waits up to `waitMs` for `dispatch` to hand this take jobs; answers no job after that. */
  wait(endpointId: string, workerId: string, max: number, waitMs: number, signal?: AbortSignal): Promise<Job[]> {
    const takers = this.takers(endpointId);
    return new Promise((resolve) => {
      const waiter: TakeWaiter = {
        workerId,
        max,
        resolve: (taken) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", abandon);
          resolve(taken);
        },
      };
      const abandon = () => {
        const current = this.takers(endpointId);
        const index = current.indexOf(waiter);
        if (index !== -1) current.splice(index, 1);
        waiter.resolve([]);
      };
      const timer = setTimeout(abandon, waitMs);
      timer.unref();
      signal?.addEventListener("abort", abandon, { once: true });
      takers.push(waiter);
    });
  }

  /**
   * Hands jobs to the endpoint's waiting takes, oldest first, while `hasQueued` holds: `take`
   * dequeues up to `max` jobs for a worker. A take that gets nothing stays first in line.
   */
  dispatch(endpointId: string, hasQueued: () => boolean, take: (workerId: string, max: number) => Job[]): void {
    const takers = this.byEndpoint.get(endpointId);
    while (takers && takers.length > 0 && hasQueued()) {
      const waiter = takers.shift()!;
      const jobs = take(waiter.workerId, waiter.max);
      if (jobs.length === 0) {
        takers.unshift(waiter);
        break;
      }
      waiter.resolve(jobs);
    }
  }

  /** Answers every waiting take of `workerId` with no job. */
  releaseWorker(workerId: string): void {
    for (const [endpointId, takers] of this.byEndpoint) {
      const mine = takers.filter((t) => t.workerId === workerId);
      if (mine.length === 0) continue;
      this.byEndpoint.set(endpointId, takers.filter((t) => t.workerId !== workerId));
      for (const waiter of mine) waiter.resolve([]);
    }
  }

  /** Answers every waiting take of the endpoint with no job. */
  releaseEndpoint(endpointId: string): void {
    const takers = this.byEndpoint.get(endpointId);
    if (!takers) return;
    this.byEndpoint.set(endpointId, []);
    for (const waiter of takers) waiter.resolve([]);
  }

  releaseAll(): void {
    for (const endpointId of [...this.byEndpoint.keys()]) this.releaseEndpoint(endpointId);
  }

  private takers(endpointId: string): TakeWaiter[] {
    let takers = this.byEndpoint.get(endpointId);
    if (!takers) this.byEndpoint.set(endpointId, (takers = []));
    return takers;
  }
}
