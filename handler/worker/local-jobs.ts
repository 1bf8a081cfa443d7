/**
 * The jobs of the worker's local API (`--rp_serve_api`): a queue that starts each job as soon as
 * a concurrency slot is free, the cloud's status and health shapes, execution timeouts,
 * retention after the end, and the webhook the cloud would send.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import { WebhookSender } from "../../protocol/webhook-sender.ts";
import {
  DEFAULT_EXECUTION_TIMEOUT_MS,
  RUN_RETENTION_MS,
  RUNSYNC_RETENTION_MS,
  isFinalStatus,
  type JobStatus,
} from "../../protocol/runpod-jobs.ts";
import { ConcurrencyTarget } from "./concurrency.ts";
import { errorBody, jobDoneBody, type ErrorOrigin, type JobDoneBody } from "./results.ts";
import { abortReason, executeJob } from "./run-job.ts";
import type { Concurrency, JobHandler } from "./types.ts";

/** A `/run` or `/runsync` body: `input` is required; the cloud's other fields pass through. */
export const RunRequestSchema = z
  .looseObject({
    input: z.unknown(),
    webhook: z.string().url().nullish(),
    policy: z.looseObject({ executionTimeout: z.number().int().positive().nullish() }).nullish(),
  })
  .refine((body) => "input" in body, { message: 'a job needs "input"', path: ["input"] });
export type RunRequest = z.infer<typeof RunRequestSchema>;

export interface LocalJob {
  id: string;
  request: Record<string, unknown>;
  status: JobStatus;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  body?: JobDoneBody;
  stream: unknown[];
  streamSent: number;
  controller: AbortController;
  executionTimeoutMs: number;
  retentionMs: number;
  webhook?: string;
  done: Promise<void>;
  markDone: () => void;
}

export interface LocalJobQueueOptions {
  handler: JobHandler;
  concurrency?: Concurrency;
  returnAggregateStream: boolean;
  origin: ErrorOrigin;
  logger: Logger;
  /** Once aborted, a failed webhook is not retried. */
  stop: AbortSignal;
  fetch: typeof fetch;
}

export class LocalJobQueue {
  private readonly jobs = new Map<string, LocalJob>();
  private readonly queue: LocalJob[] = [];
  private running = 0;
  private readonly target: ConcurrencyTarget;
  private idleWaiters: Array<() => void> = [];
  private readonly webhooks: WebhookSender;

  constructor(private readonly options: LocalJobQueueOptions) {
    this.target = new ConcurrencyTarget(options.concurrency);
    this.webhooks = new WebhookSender({ logger: options.logger, fetch: options.fetch });
    options.stop.addEventListener("abort", () => this.webhooks.close(), { once: true });
  }

  get(id: string): LocalJob | undefined {
    return this.jobs.get(id);
  }

  submit(request: RunRequest, sync: boolean): LocalJob {
    let markDone!: () => void;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    const job: LocalJob = {
      id: `${sync ? "sync-" : ""}${randomUUID()}-local`,
      request,
      status: "IN_QUEUE",
      createdAt: Date.now(),
      stream: [],
      streamSent: 0,
      controller: new AbortController(),
      executionTimeoutMs: request.policy?.executionTimeout ?? DEFAULT_EXECUTION_TIMEOUT_MS,
      retentionMs: sync ? RUNSYNC_RETENTION_MS : RUN_RETENTION_MS,
      webhook: request.webhook ?? undefined,
      done,
      markDone,
    };
    this.jobs.set(job.id, job);
    this.queue.push(job);
    this.pump();
    return job;
  }

  cancel(id: string): LocalJob | undefined {
    const job = this.jobs.get(id);
    if (!job || isFinalStatus(job.status)) return job;
    const queued = this.queue.indexOf(job);
    if (queued !== -1) this.queue.splice(queued, 1);
    job.controller.abort(abortReason("Cancelled", "the job was cancelled"));
    this.finish(job, "CANCELLED");
    return job;
  }

  abortAll(): void {
    for (const job of this.jobs.values()) {
      if (job.status === "IN_PROGRESS") job.controller.abort(abortReason("WorkerShutdown", "the worker is shutting down"));
    }
  }

  /** Queued jobs are cancelled; running ones finish. */
  async drain(): Promise<void> {
    for (const job of [...this.queue]) this.cancel(job.id);
    while (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  statusObject(job: LocalJob): Record<string, unknown> {
    const now = Date.now();
    const out: Record<string, unknown> = {
      id: job.id,
      status: job.status,
      delayTime: (job.startedAt ?? (isFinalStatus(job.status) ? (job.finishedAt ?? now) : now)) - job.createdAt,
      executionTime: job.startedAt === undefined ? 0 : (job.finishedAt ?? now) - job.startedAt,
      workerId: this.options.origin.workerId,
    };
    if (job.body && "output" in job.body) out.output = job.body.output;
    if (job.body?.error !== undefined) out.error = job.body.error;
    return out;
  }

  /** The stream chunks not yet handed out. */
  takeStream(job: LocalJob): Array<{ output: unknown }> {
    const chunks = job.stream.slice(job.streamSent).map((output) => ({ output }));
    job.streamSent = job.stream.length;
    return chunks;
  }

  health(): Record<string, unknown> {
    const count = (...statuses: JobStatus[]) => [...this.jobs.values()].filter((j) => statuses.includes(j.status)).length;
    const inProgress = count("IN_PROGRESS");
    return {
      jobs: { completed: count("COMPLETED"), failed: count("FAILED", "TIMED_OUT"), inProgress, inQueue: count("IN_QUEUE"), retried: 0 },
      workers: { idle: inProgress > 0 ? 0 : 1, initializing: 0, ready: inProgress > 0 ? 0 : 1, running: inProgress > 0 ? 1 : 0, throttled: 0 },
    };
  }

  private pump(): void {
    while (this.queue.length > 0 && this.running < this.target.next()) {
      const job = this.queue.shift()!;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        if (this.running === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const wake of waiters) wake();
        }
        this.pump();
      });
    }
  }

  private async run(job: LocalJob): Promise<void> {
    const { logger, origin } = this.options;
    const jobLogger = logger.child({ jobId: job.id });
    job.status = "IN_PROGRESS";
    job.startedAt = Date.now();
    const timer = setTimeout(() => {
      job.controller.abort(abortReason("Timeout", `the job ran longer than its executionTimeout of ${job.executionTimeoutMs} ms`));
      this.finish(job, "TIMED_OUT");
    }, job.executionTimeoutMs);
    try {
      const outcome = await executeJob(
        this.options.handler,
        { ...job.request, id: job.id, input: job.request.input },
        { signal: job.controller.signal, logger: jobLogger, workerId: origin.workerId },
        {
          aggregate: this.options.returnAggregateStream,
          onYield: (value) => {
            if (!isFinalStatus(job.status)) job.stream.push(value);
          },
          onProgress: (output) => jobLogger.info({ output }, "progress"),
        },
      );
      if (isFinalStatus(job.status)) return;
      if (outcome.kind === "threw") jobLogger.error({ err: outcome.error }, "handler failed");
      const body = outcome.kind === "returned" ? jobDoneBody(outcome.output) : errorBody(outcome.error, origin);
      if (body.stopPod) jobLogger.info("refresh_worker asked; ignored by the local API");
      delete body.stopPod;
      job.body = body;
      this.finish(job, body.error !== undefined ? "FAILED" : "COMPLETED");
    } finally {
      clearTimeout(timer);
    }
  }

  private finish(job: LocalJob, status: JobStatus): void {
    if (isFinalStatus(job.status)) return;
    job.status = status;
    job.finishedAt = Date.now();
    this.options.logger.info({ jobId: job.id, status }, "job finished");
    job.markDone();
    setTimeout(() => this.jobs.delete(job.id), job.retentionMs).unref();
    if (job.webhook) this.webhooks.send(job.webhook, this.statusObject(job), job.id);
  }
}
