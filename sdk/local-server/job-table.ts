/**
 * Every job the local server keeps, by id, with each endpoint's count of jobs in each status
 * and of retries: the numbers `/health` and the scaler read. A job's status changes only through
 * `setStatus`, so the counts stay exact.
 */
import type { Job, JobCounts, JobStatus } from "./job.ts";

const emptyCounts = (): Record<JobStatus, number> => ({
  IN_QUEUE: 0,
  IN_PROGRESS: 0,
  COMPLETED: 0,
  FAILED: 0,
  CANCELLED: 0,
  TIMED_OUT: 0,
});

interface EndpointCounts {
  byStatus: Record<JobStatus, number>;
  retried: number;
}

export class JobTable {
  private readonly jobs = new Map<string, Job>();
  private readonly endpoints = new Map<string, EndpointCounts>();

  constructor(private readonly now: () => number) {}

  add(job: Job): void {
    this.jobs.set(job.id, job);
    this.endpoint(job.endpointId).byStatus[job.status]++;
  }

  remove(job: Job): void {
    if (!this.jobs.delete(job.id)) return;
    this.endpoint(job.endpointId).byStatus[job.status]--;
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  /** The job by id, expired or not. */
  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  all(): IterableIterator<Job> {
    return this.jobs.values();
  }

  setStatus(job: Job, status: JobStatus): void {
    const counts = this.endpoint(job.endpointId).byStatus;
    counts[job.status]--;
    counts[status]++;
    job.status = status;
  }

  countRetry(endpointId: string): void {
    this.endpoint(endpointId).retried++;
  }

  /** Jobs of the endpoint in `status`. */
  count(endpointId: string, status: JobStatus): number {
    return this.endpoints.get(endpointId)?.byStatus[status] ?? 0;
  }

  /** The endpoint's counts as `/health` answers them (TIMED_OUT counts as failed). */
  counts(endpointId: string): JobCounts {
    const ep = this.endpoints.get(endpointId);
    if (!ep) return { completed: 0, failed: 0, inProgress: 0, inQueue: 0, retried: 0 };
    return {
      completed: ep.byStatus.COMPLETED,
      failed: ep.byStatus.FAILED + ep.byStatus.TIMED_OUT,
      inProgress: ep.byStatus.IN_PROGRESS,
      inQueue: ep.byStatus.IN_QUEUE,
      retried: ep.retried,
    };
  }

  /** The jobs still kept (queued, running, or final within their retention), newest first, at most `limit`. */
  recent(limit: number): Job[] {
    const now = this.now();
    return [...this.jobs.values()].filter((job) => job.expiresAt > now).slice(-limit).reverse();
  }

  /** Any kept job by id, whatever its endpoint. */
  find(id: string): Job | undefined {
    const job = this.jobs.get(id);
    return job && job.expiresAt > this.now() ? job : undefined;
  }

  private endpoint(endpointId: string): EndpointCounts {
    let ep = this.endpoints.get(endpointId);
    if (!ep) this.endpoints.set(endpointId, (ep = { byStatus: emptyCounts(), retried: 0 }));
    return ep;
  }
}
