/**
 * Jobs of every endpoint, in memory: the transitions of their statuses. What it coordinates
 * lives beside it: the jobs and their counts (`job-table.ts`), the queues and waiting takes
 * (`job-queues.ts`), which worker holds what (`worker-holds.ts`), job watchers
 * (`job-watchers.ts`) and the clocks (`job-timers.ts`); `/stream` cursors are `stream-cursor.ts`.
 *
 * Every status change goes through `JobTable.setStatus` (the per-status counters behind
 * `/health` stay exact) and every final state through `finalize`, which refuses a job that is
 * already final: that single refusal is what makes "final exactly once" hold however workers,
 * timeouts and cancels race. A result is accepted only from the worker that holds the job now, so a worker
 * declared lost cannot complete a job that was handed to someone else.
 */
import { randomUUID } from "node:crypto";
import { RUN_RETENTION_MS, RUNSYNC_RETENTION_MS, isFinalStatus as isFinal } from "../../protocol/runpod-jobs.ts";
import { freshRun, jobView, newJob, type FinalStatus, type Job, type JobCounts, type JobMode, type JobPolicy, type JobStatus, type JobView, type ResultOutcome, type StopEvent, type WorkerResult } from "./job.ts";
import { JobQueues } from "./job-queues.ts";
import { ExecutionTimers, startSweep } from "./job-timers.ts";
import { JobTable } from "./job-table.ts";
import { JobWatchers } from "./job-watchers.ts";
import { Listeners } from "./listeners.ts";
import { lostWorkerError, WorkerHolds } from "./worker-holds.ts";

export type { FinalStatus, Job, JobCounts, JobMode, JobPolicy, JobStatus, JobView, ResultOutcome, StopEvent, WorkerResult };

export interface JobStoreOptions {
  /** How long results stay readable: 30 min after `/run`, 1 min after `/runsync` (RunPod's). */
  resultRetention?: { runMs?: number; runsyncMs?: number };
  /** Times a job is re-queued after losing its worker before it fails. */
  maxWorkerLosses?: number;
  /** How often expired jobs are swept out (reads also check expiry). */
  sweepIntervalMs?: number;
  now?: () => number;
}

export class JobStore {
  private readonly jobs: JobTable;
  private readonly queues: JobQueues;
  private readonly holds = new WorkerHolds();
  private readonly watchers = new JobWatchers();
  private readonly executionTimers = new ExecutionTimers();
  private readonly finalListeners = new Listeners<Job>();
  private readonly stopListeners = new Listeners<StopEvent>();
  private readonly changeListeners = new Listeners<string>();
  private readonly stopSweep: () => void;
  private readonly retention: { runMs: number; runsyncMs: number };
  private readonly maxWorkerLosses: number;
  private readonly now: () => number;
  private closed = false;

  constructor(options: JobStoreOptions = {}) {
    this.retention = {
      runMs: options.resultRetention?.runMs ?? RUN_RETENTION_MS,
      runsyncMs: options.resultRetention?.runsyncMs ?? RUNSYNC_RETENTION_MS,
    };
    this.maxWorkerLosses = options.maxWorkerLosses ?? 1;
    this.now = options.now ?? Date.now;
    this.jobs = new JobTable(this.now);
    this.queues = new JobQueues(this.jobs, this.now, {
      assign: (job, workerId) => this.assign(job, workerId),
      expire: (job) => this.expire(job),
      changed: (endpointId) => this.changed(endpointId),
    });
    this.stopSweep = startSweep(options.sweepIntervalMs ?? 1000, () => this.sweep());
  }

  /** A job reached a final state (exactly once per job and attempt). */
  onFinal(listener: (job: Job) => void): () => void {
    return this.finalListeners.add(listener);
  }

  /** A running job must stop on its worker (cancelled, timed out, expired). */
  onStop(listener: (event: StopEvent) => void): () => void {
    return this.stopListeners.add(listener);
  }

  /** Queue depth or running jobs of an endpoint changed (the scaler listens). */
  onChange(listener: (endpointId: string) => void): () => void {
    return this.changeListeners.add(listener);
  }

  submit(endpointId: string, input: unknown, options: { webhook?: string; policy: JobPolicy; mode: JobMode }): Job {
    const id = options.mode === "runsync" ? `sync-${randomUUID()}-e1` : `${randomUUID()}-u1`;
    const job = newJob(id, endpointId, input, options, this.now());
    this.jobs.add(job);
    this.queues.enqueue(job, "back");
    return job;
  }

  /** The job, or undefined when unknown, of another endpoint, or past its TTL / retention. */
  get(endpointId: string, id: string): Job | undefined {
    const job = this.jobs.get(id);
    if (!job || job.endpointId !== endpointId) return undefined;
    if (job.expiresAt <= this.now()) {
      this.expire(job);
      return undefined;
    }
    return job;
  }

  view(job: Job): JobView {
    return jobView(job, this.now());
  }

  counts(endpointId: string): JobCounts {
    return this.jobs.counts(endpointId);
  }

  /** See JobTable.recent. */
  recent(limit: number): Job[] {
    return this.jobs.recent(limit);
  }

  /** Any kept job by id, whatever its endpoint. */
  find(id: string): Job | undefined {
    return this.jobs.find(id);
  }

  /** Jobs the worker holds now (handed out by a take, not yet final). */
  heldJobs(workerId: string): ReadonlySet<string> {
    return this.holds.held(workerId);
  }

  /** When the worker last became free of jobs (undefined while it holds any). */
  workerIdleSince(workerId: string): number | undefined {
    return this.holds.idleSince(workerId);
  }

  /** Marks a worker known and idle from now (its first contact). */
  noteWorker(workerId: string): void {
    this.holds.note(workerId, this.now());
  }

  forgetWorker(workerId: string): void {
    this.holds.forget(workerId);
  }

  /**
   * Up to `max` queued jobs for `workerId`, waiting up to `waitMs` for the first one. The
   * caller answers the worker; when the answer cannot be delivered it calls `returnUndelivered`.
   */
  take(endpointId: string, workerId: string, max: number, waitMs: number, signal?: AbortSignal): Promise<Job[]> {
    this.noteWorker(workerId);
    const jobs = this.queues.dequeue(endpointId, workerId, max);
    if (jobs.length > 0 || waitMs <= 0 || this.closed || signal?.aborted) return Promise.resolve(jobs);
    return this.queues.waitToTake(endpointId, workerId, max, waitMs, signal);
  }

  /** Answers every waiting take of `workerId` with no job (the worker is being stopped). */
  releaseTakers(workerId: string): void {
    this.queues.releaseWorker(workerId);
  }

  /** Jobs whose take answer never reached the worker go back to the front of the queue. */
  returnUndelivered(jobs: readonly Job[], workerId: string): void {
    for (const job of jobs) {
      if (job.status === "IN_PROGRESS" && job.workerId === workerId) this.requeue(job);
    }
  }

  /** A job-done post from `workerId`: a progress update or the final result. */
  report(endpointId: string, jobId: string, workerId: string, result: WorkerResult): ResultOutcome {
    const job = this.heldJob(endpointId, jobId, workerId);
    if (typeof job === "string") return job;
    if (result.kind === "progress") {
      job.hasOutput = true;
      job.output = result.output;
      this.watchers.changed(job);
      return "ok";
    }
    const failed = result.error !== undefined;
    this.finalize(job, failed ? "FAILED" : "COMPLETED", {
      hasOutput: result.hasOutput,
      output: result.output,
      error: result.error,
    });
    return "ok";
  }

  appendStream(endpointId: string, jobId: string, workerId: string, chunk: unknown): ResultOutcome {
    const job = this.heldJob(endpointId, jobId, workerId);
    if (typeof job === "string") return job;
    job.stream.push(chunk);
    this.watchers.changed(job);
    return "ok";
  }

  cancel(endpointId: string, jobId: string): Job | undefined {
    const job = this.get(endpointId, jobId);
    if (!job) return undefined;
    if (!isFinal(job.status)) this.finalize(job, "CANCELLED", { hasOutput: job.hasOutput, output: job.output });
    return job;
  }

  /** Puts a FAILED or TIMED_OUT job back in the queue; answers the reason when it cannot. */
  retry(endpointId: string, jobId: string): { job: Job } | { error: string; status: number } {
    const job = this.get(endpointId, jobId);
    if (!job) return { status: 404, error: `job ${jobId} not found` };
    if (job.status !== "FAILED" && job.status !== "TIMED_OUT") {
      return { status: 400, error: `job ${jobId} is ${job.status}; only FAILED or TIMED_OUT jobs can be retried` };
    }
    const now = this.now();
    Object.assign(job, freshRun(now, job.policy.ttlMs));
    this.jobs.countRetry(endpointId);
    this.jobs.setStatus(job, "IN_QUEUE");
    this.queues.enqueue(job, "back");
    return { job };
  }

  /** Cancels every queued job of the endpoint; answers how many. */
  purgeQueue(endpointId: string): number {
    return this.endQueued(endpointId, "CANCELLED", "removed by purge-queue");
  }

  /** Fails every queued job of the endpoint with `error` (its workers cannot start); answers how many. */
  failQueued(endpointId: string, error: string): number {
    return this.endQueued(endpointId, "FAILED", error);
  }

  /**
   * The worker is gone (process died, or stopped pinging): each job it held goes back to the
   * queue once (counted as retried), and fails the next time.
   */
  releaseLostWorker(workerId: string, reason: string, workerName = workerId): void {
    for (const jobId of [...this.holds.held(workerId)]) {
      const job = this.jobs.get(jobId);
      if (!job || job.status !== "IN_PROGRESS" || job.workerId !== workerId) continue;
      if (job.workerLosses < this.maxWorkerLosses) {
        job.workerLosses++;
        this.jobs.countRetry(job.endpointId);
        this.requeue(job);
      } else {
        this.finalize(job, "FAILED", { hasOutput: false, error: lostWorkerError(workerId, workerName, reason, job.workerLosses) });
      }
    }
    this.holds.drop(workerId);
    this.queues.releaseWorker(workerId);
  }

  /** Cancels every unfinished job of a deleted endpoint and answers its waiting takes. */
  dropEndpoint(endpointId: string): void {
    for (const job of this.jobs.all()) {
      if (job.endpointId === endpointId && !isFinal(job.status)) {
        this.finalize(job, "CANCELLED", { hasOutput: false, error: "the endpoint was deleted" });
      }
    }
    this.queues.releaseEndpoint(endpointId);
  }

  /**
   * Resolves with the job once `predicate` holds (checked now and at every change of the job),
   * or with its current state at the deadline; undefined when it is gone.
   */
  waitFor(job: Job, predicate: (job: Job) => boolean, waitMs: number, signal?: AbortSignal): Promise<Job | undefined> {
    if (predicate(job) || waitMs <= 0 || this.closed) return Promise.resolve(this.jobs.get(job.id));
    return this.watchers.wait(job.id, predicate, waitMs, () => this.jobs.get(job.id), signal);
  }

  /** Ends every wait (takes answer no job, waits answer the current state). */
  close(): void {
    this.closed = true;
    this.stopSweep();
    this.executionTimers.clearAll();
    this.queues.releaseAll();
    this.watchers.endAll((id) => this.jobs.get(id));
  }

  /** Removes jobs past their TTL or retention. */
  sweep(): void {
    const now = this.now();
    for (const job of this.jobs.all()) if (job.expiresAt <= now) this.expire(job);
  }

  // ---------------------------------------------------------------------------------------

  private endQueued(endpointId: string, status: "CANCELLED" | "FAILED", error: string): number {
    let ended = 0;
    for (const job of this.jobs.all()) {
      if (job.endpointId === endpointId && job.status === "IN_QUEUE") {
        this.finalize(job, status, { hasOutput: false, error });
        ended++;
      }
    }
    this.queues.clear(endpointId);
    return ended;
  }

  /** The job when `workerId` holds it now, or why a post of that worker about it is refused. */
  private heldJob(endpointId: string, jobId: string, workerId: string): Job | Exclude<ResultOutcome, "ok"> {
    const job = this.get(endpointId, jobId);
    if (!job) return "not-found";
    if (isFinal(job.status)) return "already-final";
    if (job.status !== "IN_PROGRESS" || job.workerId !== workerId) return "not-held";
    return job;
  }

  /** A job its worker never ran goes back to the front of the queue. */
  private requeue(job: Job): void {
    this.unassign(job);
    job.startedAt = undefined;
    this.jobs.setStatus(job, "IN_QUEUE");
    this.queues.enqueue(job, "front");
  }

  private assign(job: Job, workerId: string): void {
    job.workerId = workerId;
    job.startedAt = this.now();
    this.holds.hold(workerId, job.id);
    this.jobs.setStatus(job, "IN_PROGRESS");
    this.executionTimers.start(job.id, job.policy.executionTimeoutMs, () => {
      if (job.status !== "IN_PROGRESS") return;
      const worker = job.workerId;
      this.finalize(job, "TIMED_OUT", {
        hasOutput: job.hasOutput,
        output: job.output,
        error: `the job ran longer than its executionTimeout of ${job.policy.executionTimeoutMs} ms`,
      });
      if (worker) this.emitStop(job, worker);
    });
  }

  private unassign(job: Job): void {
    this.executionTimers.clear(job.id);
    const workerId = job.workerId;
    if (workerId === undefined) return;
    this.holds.release(workerId, job.id, this.now());
    job.workerId = undefined;
  }

  private finalize(job: Job, status: FinalStatus, result: { hasOutput: boolean; output?: unknown; error?: string }): boolean {
    if (isFinal(job.status)) return false;
    const wasRunningOn = job.status === "IN_PROGRESS" ? job.workerId : undefined;
    const now = this.now();
    // The worker id stays on the job for `/status`; only the holding index forgets it.
    this.unassign(job);
    job.workerId = wasRunningOn;
    job.finishedAt = now;
    job.hasOutput = result.hasOutput;
    job.output = result.hasOutput ? result.output : undefined;
    job.error = result.error;
    job.expiresAt = now + (job.mode === "runsync" ? this.retention.runsyncMs : this.retention.runMs);
    this.jobs.setStatus(job, status);
    if (wasRunningOn !== undefined && status === "CANCELLED") this.emitStop(job, wasRunningOn);
    this.finalListeners.emit(job);
    this.watchers.changed(job);
    this.changed(job.endpointId);
    return true;
  }

  private expire(job: Job): void {
    if (!this.jobs.has(job.id)) return;
    const worker = job.status === "IN_PROGRESS" ? job.workerId : undefined;
    this.unassign(job);
    if (worker) this.emitStop(job, worker);
    this.jobs.remove(job);
    this.watchers.gone(job.id);
    if (!isFinal(job.status)) this.changed(job.endpointId);
  }

  private emitStop(job: Job, workerId: string): void {
    this.stopListeners.emit({ endpointId: job.endpointId, workerId, jobId: job.id });
  }

  private changed(endpointId: string): void {
    this.changeListeners.emit(endpointId);
  }
}
