/**
 * The queued jobs of every endpoint and the workers' takes waiting for them: a job enqueued
 * goes to the oldest waiting take at once; a take finding nothing waits (`take-waits.ts`).
 * Taking a job hands it to `assign`; a queued job found past its TTL goes to `expire` instead.
 */
import { EndpointQueue } from "./endpoint-queue.ts";
import type { Job } from "./job.ts";
import type { JobTable } from "./job-table.ts";
import { TakeWaits } from "./take-waits.ts";

export interface JobQueueHooks {
  /** The job leaves the queue for `workerId`. */
  assign(job: Job, workerId: string): void;
  expire(job: Job): void;
  /** The endpoint's queue depth or running jobs changed. */
  changed(endpointId: string): void;
}

export class JobQueues {
  private readonly queues = new Map<string, EndpointQueue>();
  private readonly takes = new TakeWaits();

  constructor(
    private readonly jobs: JobTable,
    private readonly now: () => number,
    private readonly hooks: JobQueueHooks,
  ) {}

  /** Queues the job (already IN_QUEUE) and hands queued jobs to waiting takes. */
  enqueue(job: Job, where: "front" | "back"): void {
    const endpointId = job.endpointId;
    this.queue(endpointId).add(job.id, where, job.policy.lowPriority);
    this.takes.dispatch(
      endpointId,
      () => this.jobs.count(endpointId, "IN_QUEUE") > 0,
      (workerId, max) => this.dequeue(endpointId, workerId, max),
    );
    this.hooks.changed(endpointId);
  }

  /** Up to `max` queued jobs, assigned to `workerId`. */
  dequeue(endpointId: string, workerId: string, max: number): Job[] {
    const queue = this.queue(endpointId);
    const taken: Job[] = [];
    const now = this.now();
    const isQueued = (id: string) => this.jobs.get(id)?.status === "IN_QUEUE";
    while (taken.length < max && this.jobs.count(endpointId, "IN_QUEUE") > 0) {
      const id = queue.next(isQueued);
      if (id === undefined) break;
      const job = this.jobs.get(id)!;
      if (job.expiresAt <= now) {
        this.hooks.expire(job);
        continue;
      }
      this.hooks.assign(job, workerId);
      taken.push(job);
    }
    if (taken.length > 0) this.hooks.changed(endpointId);
    return taken;
  }

  /** Waits up to `waitMs` for jobs to be enqueued for this take (see TakeWaits.wait). */
  waitToTake(endpointId: string, workerId: string, max: number, waitMs: number, signal?: AbortSignal): Promise<Job[]> {
    return this.takes.wait(endpointId, workerId, max, waitMs, signal);
  }

  /** Empties the endpoint's queue (its queued jobs were ended). */
  clear(endpointId: string): void {
    this.queues.get(endpointId)?.clear();
  }

  /** Answers every waiting take of the worker with no job. */
  releaseWorker(workerId: string): void {
    this.takes.releaseWorker(workerId);
  }

  /** Answers every waiting take of the endpoint with no job. */
  releaseEndpoint(endpointId: string): void {
    this.takes.releaseEndpoint(endpointId);
  }

  releaseAll(): void {
    this.takes.releaseAll();
  }

  private queue(endpointId: string): EndpointQueue {
    let queue = this.queues.get(endpointId);
    if (!queue) this.queues.set(endpointId, (queue = new EndpointQueue()));
    return queue;
  }
}
