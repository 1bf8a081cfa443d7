/**
 * Jobs of every endpoint, in memory: statuses, queues, which worker holds what, TTL and result
 * retention, and the waits that long polls and `runsync` hang on.
 *
 * Every status change goes through `setStatus` (the per-status counters behind `/health` stay
 * exact) and every final state through `finalize`, which refuses a job that is already final:
 * that single refusal is what makes "final exactly once" hold however workers, timeouts and
 * cancels race. A result is accepted only from the worker that holds the job now, so a worker
 * declared lost cannot complete a job that was handed to someone else.
 */
import { ErrorType } from "../../protocol/error-types.ts";
import { randomUUID } from "node:crypto";

import {
  RUN_RETENTION_MS,
  RUNSYNC_RETENTION_MS,
  isFinalStatus as isFinal,
  type FinalStatus,
  type JobStatus,
} from "../../protocol/runpod-jobs.ts";

export type { FinalStatus, JobStatus };

export interface JobPolicy {
  executionTimeoutMs: number;
  ttlMs: number;
  lowPriority: boolean;
}

export type JobMode = "run" | "runsync";

export interface Job {
  readonly id: string;
  readonly endpointId: string;
  readonly input: unknown;
  readonly webhook: string | undefined;
  readonly policy: JobPolicy;
  readonly mode: JobMode;
  status: JobStatus;
  readonly createdAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  /** Deleted at this time: `ttl` after submission while running, the retention once final. */
  expiresAt: number;
  hasOutput: boolean;
  output: unknown;
  error: string | undefined;
  workerId: string | undefined;
  /** Partial outputs posted to job-stream; `/stream` hands out those past `streamCursor`. */
  stream: unknown[];
  streamCursor: number;
  /** A final output is handed to `/stream` as one chunk when the job streamed nothing. */
  finalChunkSent: boolean;
  /** Times the job went back to the queue because its worker was lost. */
  workerLosses: number;
}

export interface JobView {
  id: string;
  status: JobStatus;
  delayTime: number;
  executionTime?: number;
  output?: unknown;
  error?: string;
  workerId?: string;
}

export interface JobCounts {
  completed: number;
  failed: number;
  inProgress: number;
  inQueue: number;
  retried: number;
}

export interface JobStoreOptions {
  /** How long results stay readable: 30 min after `/run`, 1 min after `/runsync` (RunPod's). */
  resultRetention?: { runMs?: number; runsyncMs?: number };
  /** Times a job is re-queued after losing its worker before it fails. */
  maxWorkerLosses?: number;
  /** How often expired jobs are swept out (reads also check expiry). */
  sweepIntervalMs?: number;
  now?: () => number;
}

export type WorkerResult =
  | { kind: "final"; hasOutput: boolean; output?: unknown; error?: string }
  | { kind: "progress"; output: unknown };

export type ResultOutcome = "ok" | "not-found" | "not-held" | "already-final";

interface Watcher {
  predicate: (job: Job | undefined) => boolean;
  resolve: (job: Job | undefined) => void;
}

interface TakeWaiter {
  workerId: string;
  max: number;
  resolve: (jobs: Job[]) => void;
}

interface EndpointJobs {
  /** Job ids in submission order; entries whose job is no longer queued are skipped on take. */
  queue: string[];
  queueHead: number;
  lowQueue: string[];
  lowQueueHead: number;
  /** Jobs put back by a lost worker or an undelivered take go first. */
  front: string[];
  counts: Record<JobStatus, number>;
  retried: number;
  takers: TakeWaiter[];
}

type Listener<T> = (event: T) => void;

export interface StopEvent {
  endpointId: string;
  workerId: string;
  jobId: string;
}

const emptyCounts = (): Record<JobStatus, number> => ({
  IN_QUEUE: 0,
  IN_PROGRESS: 0,
  COMPLETED: 0,
  FAILED: 0,
  CANCELLED: 0,
  TIMED_OUT: 0,
});

/** The fields of a job that a run fills in, as they are before its first run (or a retry). */
function freshRun(now: number, ttlMs: number) {
  return {
    startedAt: undefined,
    finishedAt: undefined,
    expiresAt: now + ttlMs,
    hasOutput: false,
    output: undefined,
    error: undefined,
    workerId: undefined,
    stream: [],
    streamCursor: 0,
    finalChunkSent: false,
    workerLosses: 0,
  };
}

export class JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly endpoints = new Map<string, EndpointJobs>();
  private readonly heldBy = new Map<string, Set<string>>();
  private readonly idleSince = new Map<string, number>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly executionTimers = new Map<string, NodeJS.Timeout>();
  private readonly finalListeners = new Set<Listener<Job>>();
  private readonly stopListeners = new Set<Listener<StopEvent>>();
  private readonly changeListeners = new Set<Listener<string>>();
  private readonly sweepTimer: NodeJS.Timeout;
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
    this.sweepTimer = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1000)
    this.sweepTimer.unref();
    this.sweepTimer.unref();
  }

  /** A job reached a final state (exactly once per job and attempt). */
  onFinal(listener: Listener<Job>): () => void {
    this.finalListeners.add(listener);
    return () => this.finalListeners.delete(listener);
  }

  /** A running job must stop on its worker (cancelled, timed out, expired). */
  onStop(listener: Listener<StopEvent>): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  /** Queue depth or running jobs of an endpoint changed (the scaler listens). */
  onChange(listener: Listener<string>): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  submit(endpointId: string, input: unknown, options: { webhook?: string; policy: JobPolicy; mode: JobMode }): Job {
    const now = this.now();
    const id = options.mode === "runsync" ? `sync-${randomUUID()}-e1` : `${randomUUID()}-u1`;
    const job: Job = {
      id,
      endpointId,
      input,
      webhook: options.webhook,
      policy: options.policy,
      mode: options.mode,
      status: "IN_QUEUE",
      createdAt: now,
      ...freshRun(now, options.policy.ttlMs),
    };
    this.jobs.set(id, job);
    this.endpoint(endpointId).counts.IN_QUEUE++;
    this.enqueue(job, "back");
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
    const now = this.now();
    const view: JobView = { id: job.id, status: job.status, delayTime: (job.startedAt ?? job.finishedAt ?? now) - job.createdAt };
    if (job.startedAt !== undefined) view.executionTime = (job.finishedAt ?? now) - job.startedAt;
    else if (job.finishedAt !== undefined) view.executionTime = 0;
    if (job.hasOutput) view.output = job.output;
    if (job.error !== undefined) view.error = job.error;
    if (job.workerId !== undefined) view.workerId = job.workerId;
    return view;
  }

  counts(endpointId: string): JobCounts {
    const ep = this.endpoints.get(endpointId);
    if (!ep) return { completed: 0, failed: 0, inProgress: 0, inQueue: 0, retried: 0 };
    return {
      completed: ep.counts.COMPLETED,
      failed: ep.counts.FAILED + ep.counts.TIMED_OUT,
      inProgress: ep.counts.IN_PROGRESS,
      inQueue: ep.counts.IN_QUEUE,
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

  /** Jobs the worker holds now (handed out by a take, not yet final). */
  heldJobs(workerId: string): ReadonlySet<string> {
    return this.heldBy.get(workerId) ?? new Set();
  }

  /** When the worker last became free of jobs (undefined while it holds any). */
  workerIdleSince(workerId: string): number | undefined {
    return this.heldBy.get(workerId)?.size ? undefined : this.idleSince.get(workerId);
  }

  /** Marks a worker known and idle from now (its first contact). */
  noteWorker(workerId: string): void {
    if (!this.idleSince.has(workerId)) this.idleSince.set(workerId, this.now());
  }

  forgetWorker(workerId: string): void {
    if (!this.heldBy.get(workerId)?.size) {
      this.heldBy.delete(workerId);
      this.idleSince.delete(workerId);
    }
  }

  /**
   * Up to `max` queued jobs for `workerId`, waiting up to `waitMs` for the first one. The
   * caller answers the worker; when the answer cannot be delivered it calls `returnUndelivered`.
   */
  take(endpointId: string, workerId: string, max: number, waitMs: number, signal?: AbortSignal): Promise<Job[]> {
    this.noteWorker(workerId);
    const jobs = this.dequeue(endpointId, workerId, max);
    if (jobs.length > 0 || waitMs <= 0 || this.closed || signal?.aborted) return Promise.resolve(jobs);
    const ep = this.endpoint(endpointId);
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
        const index = ep.takers.indexOf(waiter);
        if (index !== -1) ep.takers.splice(index, 1);
        waiter.resolve([]);
      };
      const timer = setTimeout(abandon, waitMs);
      timer.unref();
      signal?.addEventListener("abort", abandon, { once: true });
      ep.takers.push(waiter);
    });
  }

  /** Answers every waiting take of `workerId` with no job (the worker is being stopped). */
  releaseTakers(workerId: string): void {
    for (const ep of this.endpoints.values()) {
      const mine = ep.takers.filter((t) => t.workerId === workerId);
      if (mine.length === 0) continue;
      ep.takers = ep.takers.filter((t) => t.workerId !== workerId);
      for (const waiter of mine) waiter.resolve([]);
    }
  }

  /** Jobs whose take answer never reached the worker go back to the front of the queue. */
  returnUndelivered(jobs: readonly Job[], workerId: string): void {
    for (const job of jobs) {
      if (job.status !== "IN_PROGRESS" || job.workerId !== workerId) continue;
      this.unassign(job);
      job.startedAt = undefined;
      this.setStatus(job, "IN_QUEUE");
      this.enqueue(job, "front");
    }
  }

  /** A job-done post from `workerId`: a progress update or the final result. */
  report(endpointId: string, jobId: string, workerId: string, result: WorkerResult): ResultOutcome {
    const job = this.get(endpointId, jobId);
    if (!job) return "not-found";
    if (isFinal(job.status)) return "already-final";
    if (job.status !== "IN_PROGRESS" || job.workerId !== workerId) return "not-held";
    if (result.kind === "progress") {
      job.hasOutput = true;
      job.output = result.output;
      this.notify(job);
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
    const job = this.get(endpointId, jobId);
    if (!job) return "not-found";
    if (isFinal(job.status)) return "already-final";
    if (job.status !== "IN_PROGRESS" || job.workerId !== workerId) return "not-held";
    job.stream.push(chunk);
    this.notify(job);
    return "ok";
  }

  /** Chunks not yet handed to `/stream`, and the final output once when nothing was streamed. */
  drainStream(job: Job): unknown[] {
    const chunks = job.stream.slice(job.streamCursor).map((output) => ({ output }));
    job.streamCursor = job.stream.length;
    if (isFinal(job.status) && !job.finalChunkSent) {
      job.finalChunkSent = true;
      if (job.stream.length === 0 && job.hasOutput) chunks.push({ output: job.output });
    }
    return chunks;
  }

  hasUnreadStream(job: Job): boolean {
    return job.streamCursor < job.stream.length || (isFinal(job.status) && !job.finalChunkSent);
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
    this.endpoint(endpointId).retried++;
    this.setStatus(job, "IN_QUEUE");
    this.enqueue(job, "back");
    return { job };
  }

  /** Cancels every queued job of the endpoint; answers how many. */
  purgeQueue(endpointId: string): number {
    let removed = 0;
    for (const job of this.jobs.values()) {
      if (job.endpointId === endpointId && job.status === "IN_QUEUE") {
        this.finalize(job, "CANCELLED", { hasOutput: false, error: "removed by purge-queue" });
        removed++;
      }
    }
    const ep = this.endpoints.get(endpointId);
    if (ep) Object.assign(ep, { queue: [], queueHead: 0, lowQueue: [], lowQueueHead: 0, front: [] });
    return removed;
  }

  /** Fails every queued job of the endpoint with `error` (its workers cannot start); answers how many. */
  failQueued(endpointId: string, error: string): number {
    let failed = 0;
    for (const job of this.jobs.values()) {
      if (job.endpointId === endpointId && job.status === "IN_QUEUE") {
        this.finalize(job, "FAILED", { hasOutput: false, error });
        failed++;
      }
    }
    const ep = this.endpoints.get(endpointId);
    if (ep) Object.assign(ep, { queue: [], queueHead: 0, lowQueue: [], lowQueueHead: 0, front: [] });
    return failed;
  }

  /**
   * The worker is gone (process died, or stopped pinging): each job it held goes back to the
   * queue once (counted as retried), and fails the next time.
   */
  releaseLostWorker(workerId: string, reason: string, workerName = workerId): void {
    const held = [...(this.heldBy.get(workerId) ?? [])];
    for (const jobId of held) {
      const job = this.jobs.get(jobId);
      if (!job || job.status !== "IN_PROGRESS" || job.workerId !== workerId) continue;
      if (job.workerLosses < this.maxWorkerLosses) {
        job.workerLosses++;
        this.unassign(job);
        job.startedAt = undefined;
        this.endpoint(job.endpointId).retried++;
        this.setStatus(job, "IN_QUEUE");
        this.enqueue(job, "front");
      } else {
        this.finalize(job, "FAILED", {
          hasOutput: false,
          error: JSON.stringify({
            error_type: ErrorType.WorkerProcessDied,
            error_message: `worker ${workerName} ${reason} while running this job, after it had been re-queued ${job.workerLosses} time(s)`,
            error_traceback: "",
            hostname: "local",
            worker_id: workerId,
          }),
        });
      }
    }
    this.heldBy.delete(workerId);
    this.idleSince.delete(workerId);
    this.releaseTakers(workerId);
  }

  /** Cancels every unfinished job of a deleted endpoint and answers its waiting takes. */
  dropEndpoint(endpointId: string): void {
    for (const job of this.jobs.values()) {
      if (job.endpointId === endpointId && !isFinal(job.status)) {
        this.finalize(job, "CANCELLED", { hasOutput: false, error: "the endpoint was deleted" });
      }
    }
    const ep = this.endpoints.get(endpointId);
    if (ep) {
      const takers = ep.takers;
      ep.takers = [];
      for (const waiter of takers) waiter.resolve([]);
    }
  }

  /**
   * Resolves with the job once `predicate` holds (checked now and at every change of the job),
   * or with its current state at the deadline; undefined when it is gone.
   */
  waitFor(job: Job, predicate: (job: Job) => boolean, waitMs: number, signal?: AbortSignal): Promise<Job | undefined> {
    if (predicate(job) || waitMs <= 0 || this.closed) return Promise.resolve(this.jobs.get(job.id));
    return new Promise((resolve) => {
      let set = this.watchers.get(job.id);
      if (!set) this.watchers.set(job.id, (set = new Set()));
      const watchers = set;
      const finish = (value: Job | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        watchers.delete(watcher);
        if (watchers.size === 0 && this.watchers.get(job.id) === watchers) this.watchers.delete(job.id);
        resolve(value);
      };
      const watcher: Watcher = {
        predicate: (current) => current === undefined || predicate(current),
        resolve: finish,
      };
      const onAbort = () => finish(this.jobs.get(job.id));
      const timer = setTimeout(onAbort, waitMs);
      timer.unref();
      signal?.addEventListener("abort", onAbort, { once: true });
      watchers.add(watcher);
    });
  }

  /** Ends every wait (takes answer no job, waits answer the current state). */
  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const timer of this.executionTimers.values()) clearTimeout(timer);
    this.executionTimers.clear();
    for (const ep of this.endpoints.values()) {
      const takers = ep.takers;
      ep.takers = [];
      for (const waiter of takers) waiter.resolve([]);
    }
    for (const [id, set] of [...this.watchers]) {
      for (const watcher of [...set]) watcher.resolve(this.jobs.get(id));
    }
  }

  /** Removes jobs past their TTL or retention. */
  sweep(): void {
    const now = this.now();
    for (const job of this.jobs.values()) if (job.expiresAt <= now) this.expire(job);
  }

  // ---------------------------------------------------------------------------------------

  private endpoint(endpointId: string): EndpointJobs {
    let ep = this.endpoints.get(endpointId);
    if (!ep) {
      ep = { queue: [], queueHead: 0, lowQueue: [], lowQueueHead: 0, front: [], counts: emptyCounts(), retried: 0, takers: [] };
      this.endpoints.set(endpointId, ep);
    }
    return ep;
  }

  private enqueue(job: Job, where: "front" | "back"): void {
    const ep = this.endpoint(job.endpointId);
    if (where === "front") ep.front.push(job.id);
    else if (job.policy.lowPriority) ep.lowQueue.push(job.id);
    else ep.queue.push(job.id);
    this.dispatch(job.endpointId);
    this.changed(job.endpointId);
  }

  /** Hands queued jobs to waiting takes, oldest take first. */
  private dispatch(endpointId: string): void {
    const ep = this.endpoint(endpointId);
    while (ep.takers.length > 0 && ep.counts.IN_QUEUE > 0) {
      const waiter = ep.takers.shift()!;
      const jobs = this.dequeue(endpointId, waiter.workerId, waiter.max);
      if (jobs.length === 0) {
        ep.takers.unshift(waiter);
        break;
      }
      waiter.resolve(jobs);
    }
  }

  private nextQueuedId(ep: EndpointJobs): string | undefined {
    while (ep.front.length > 0) {
      const id = ep.front.pop()!;
      if (this.jobs.get(id)?.status === "IN_QUEUE") return id;
    }
    while (ep.queueHead < ep.queue.length) {
      const id = ep.queue[ep.queueHead++]!;
      if (this.jobs.get(id)?.status === "IN_QUEUE") return id;
    }
    while (ep.lowQueueHead < ep.lowQueue.length) {
      const id = ep.lowQueue[ep.lowQueueHead++]!;
      if (this.jobs.get(id)?.status === "IN_QUEUE") return id;
    }
    return undefined;
  }

  private compact(ep: EndpointJobs): void {
    if (ep.queueHead > 1024 && ep.queueHead * 2 > ep.queue.length) {
      ep.queue = ep.queue.slice(ep.queueHead);
      ep.queueHead = 0;
    }
    if (ep.lowQueueHead > 1024 && ep.lowQueueHead * 2 > ep.lowQueue.length) {
      ep.lowQueue = ep.lowQueue.slice(ep.lowQueueHead);
      ep.lowQueueHead = 0;
    }
  }

  private dequeue(endpointId: string, workerId: string, max: number): Job[] {
    const ep = this.endpoint(endpointId);
    const taken: Job[] = [];
    const now = this.now();
    while (taken.length < max && ep.counts.IN_QUEUE > 0) {
      const id = this.nextQueuedId(ep);
      if (id === undefined) break;
      const job = this.jobs.get(id)!;
      if (job.expiresAt <= now) {
        this.expire(job);
        continue;
      }
      this.assign(job, workerId);
      taken.push(job);
    }
    this.compact(ep);
    if (taken.length > 0) this.changed(endpointId);
    return taken;
  }

  private assign(job: Job, workerId: string): void {
    job.workerId = workerId;
    job.startedAt = this.now();
    let held = this.heldBy.get(workerId);
    if (!held) this.heldBy.set(workerId, (held = new Set()));
    held.add(job.id);
    this.setStatus(job, "IN_PROGRESS");
    const timer = setTimeout(() => {
      this.executionTimers.delete(job.id);
      if (job.status !== "IN_PROGRESS") return;
      const worker = job.workerId;
      this.finalize(job, "TIMED_OUT", {
        hasOutput: job.hasOutput,
        output: job.output,
        error: `the job ran longer than its executionTimeout of ${job.policy.executionTimeoutMs} ms`,
      });
      if (worker) this.emitStop(job, worker);
    }, job.policy.executionTimeoutMs);
    timer.unref();
    this.executionTimers.set(job.id, timer);
  }

  private unassign(job: Job): void {
    const timer = this.executionTimers.get(job.id);
    if (timer) {
      clearTimeout(timer);
      this.executionTimers.delete(job.id);
    }
    const workerId = job.workerId;
    if (workerId === undefined) return;
    const held = this.heldBy.get(workerId);
    if (held) {
      held.delete(job.id);
      if (held.size === 0) this.idleSince.set(workerId, this.now());
    }
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
    this.setStatus(job, status);
    if (wasRunningOn !== undefined && status === "CANCELLED") this.emitStop(job, wasRunningOn);
    for (const listener of this.finalListeners) listener(job);
    this.notify(job);
    this.changed(job.endpointId);
    return true;
  }

  private expire(job: Job): void {
    if (!this.jobs.has(job.id)) return;
    if (job.status === "IN_PROGRESS" && job.workerId) {
      const worker = job.workerId;
      this.unassign(job);
      this.emitStop(job, worker);
    } else {
      this.unassign(job);
    }
    this.jobs.delete(job.id);
    this.endpoint(job.endpointId).counts[job.status]--;
    const timer = this.executionTimers.get(job.id);
    if (timer) clearTimeout(timer);
    this.executionTimers.delete(job.id);
    const set = this.watchers.get(job.id);
    if (set) for (const watcher of [...set]) watcher.resolve(undefined);
    if (!isFinal(job.status)) this.changed(job.endpointId);
  }

  private setStatus(job: Job, status: JobStatus): void {
    const counts = this.endpoint(job.endpointId).counts;
    counts[job.status]--;
    counts[status]++;
    job.status = status;
  }

  private notify(job: Job): void {
    const set = this.watchers.get(job.id);
    if (!set) return;
    for (const watcher of [...set]) if (watcher.predicate(job)) watcher.resolve(job);
  }

  private emitStop(job: Job, workerId: string): void {
    for (const listener of this.stopListeners) listener({ endpointId: job.endpointId, workerId, jobId: job.id });
  }

  private changed(endpointId: string): void {
    for (const listener of this.changeListeners) listener(endpointId);
  }
}
