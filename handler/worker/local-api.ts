/**
 * `--rp_serve_api`: a local HTTP server that speaks RunPod's endpoint API to this worker's
 * handler. It answers the routes RunPod's Python library serves (`POST /run`, `/runsync`,
 * `/status/{id}`, `/stream/{id}`) and the cloud's (`GET /status/{id}`, `GET /stream/{id}`,
 * `POST /cancel/{id}`, `GET /health`) with the cloud's shapes; a `/v2/<endpoint>` prefix is
 * accepted so endpoint-API clients can point here. `/run` jobs start as soon as a slot is free,
 * not when first polled.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import {
  DEFAULT_EXECUTION_TIMEOUT_MS,
  MiB,
  RUN_BODY_LIMIT_BYTES,
  RUN_RETENTION_MS,
  RUNSYNC_BODY_LIMIT_BYTES,
  RUNSYNC_RETENTION_MS,
  RUNSYNC_WAIT_DEFAULT_MS,
  clampRunsyncWait,
  isFinalStatus,
  type JobStatus,
} from "../../protocol/runpod-jobs.ts";
import { delay } from "./backoff.ts";
import { ConcurrencyTarget } from "./concurrency.ts";
import { errorBody, jobDoneBody, type ErrorOrigin, type JobDoneBody } from "./results.ts";
import { abortReason, executeJob } from "./run-job.ts";
import type { Concurrency, JobHandler } from "./types.ts";

const WEBHOOK_ATTEMPTS = 3;
const WEBHOOK_RETRY_MS = 10_000;


const RunRequestSchema = z.looseObject({
  input: z.unknown(),
  webhook: z.string().url().nullish(),
  policy: z
    .looseObject({ executionTimeout: z.number().int().positive().nullish() })
    .nullish(),
});

interface LocalJob {
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

export interface LocalApiOptions {
  handler: JobHandler;
  concurrency?: Concurrency;
  returnAggregateStream: boolean;
  host: string;
  port: number;
  origin: ErrorOrigin;
  logger: Logger;
  stop: AbortSignal;
  hardStop: AbortSignal;
  fetch: typeof fetch;
  onListening?: (address: { host: string; port: number }) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number, route: string): Promise<string> {
  const tooLarge = () => new HttpError(413, `request body is larger than ${limit / MiB} MB, the limit of ${route}`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    req.on("end", () => (over ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString("utf8"))));
    req.on("error", reject);
  });
}

class LocalJobQueue {
  private readonly jobs = new Map<string, LocalJob>();
  private readonly queue: LocalJob[] = [];
  private running = 0;
  private readonly target: ConcurrencyTarget;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: Omit<LocalApiOptions, "host" | "port" | "onListening">) {
    this.target = new ConcurrencyTarget(options.concurrency);
  }

  get(id: string): LocalJob | undefined {
    return this.jobs.get(id);
  }

  submit(request: z.infer<typeof RunRequestSchema>, sync: boolean): LocalJob {
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
    if (job.webhook) void this.sendWebhook(job, job.webhook);
  }

  /**
   * Up to WEBHOOK_ATTEMPTS tries. Once the server is stopping, a failed attempt is not retried
   * and a pending retry wait ends at once: the process must not linger for a webhook.
   */
  private async sendWebhook(job: LocalJob, url: string): Promise<void> {
    const { stop, logger } = this.options;
    const body = JSON.stringify(this.statusObject(job));
    for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
      try {
        const res = await this.options.fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status === 200) return;
      } catch {
        // Retried below, like the cloud does.
      }
      if (attempt === WEBHOOK_ATTEMPTS) break;
      await delay(WEBHOOK_RETRY_MS, stop);
      if (stop.aborted) {
        logger.warn({ jobId: job.id, attempt }, "webhook not accepted; not retried because the local API is stopping");
        return;
      }
    }
    logger.warn({ jobId: job.id }, "webhook not accepted after retries");
  }
}

function parseRunRequest(text: string): z.infer<typeof RunRequestSchema> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
  const parsed = RunRequestSchema.safeParse(value);
  if (!parsed.success || !("input" in parsed.data)) {
    throw new HttpError(400, 'request body must be a JSON object with "input"');
  }
  return parsed.data;
}

function waitParam(url: URL): number {
  const raw = url.searchParams.get("wait");
  const wait = raw === null ? RUNSYNC_WAIT_DEFAULT_MS : Number(raw);
  if (!Number.isFinite(wait)) return RUNSYNC_WAIT_DEFAULT_MS;
  return clampRunsyncWait(wait);
}

async function route(queue: LocalJobQueue, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://local");
  const path = url.pathname.replace(/^\/v2\/[^/]+(?=\/)/, "").replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  const [, name, id, extra] = path.split("/");
  const allow = (...methods: string[]) => {
    if (!methods.includes(method)) throw new HttpError(405, `${method} is not allowed on ${path}`);
  };
  const found = () => {
    const job = id ? queue.get(id) : undefined;
    if (!job) throw new HttpError(404, `job ${id ?? ""} not found`);
    return job;
  };
  if (extra !== undefined) throw new HttpError(404, `no route ${path}`);

  if (name === "run" && id === undefined) {
    allow("POST");
    const job = queue.submit(parseRunRequest(await readBody(req, RUN_BODY_LIMIT_BYTES, "/run")), false);
    // The cloud answers from its queue, before any worker has the job.
    return sendJson(res, 200, { id: job.id, status: "IN_QUEUE" });
  }
  if (name === "runsync" && id === undefined) {
    allow("POST");
    const job = queue.submit(parseRunRequest(await readBody(req, RUNSYNC_BODY_LIMIT_BYTES, "/runsync")), true);
    const timeout = new AbortController();
    await Promise.race([job.done, delay(waitParam(url), timeout.signal)]);
    timeout.abort();
    const status = queue.statusObject(job);
    return sendJson(res, 200, isFinalStatus(job.status) ? status : { id: job.id, status: job.status });
  }
  if (name === "status" && id !== undefined) {
    allow("GET", "POST");
    return sendJson(res, 200, queue.statusObject(found()));
  }
  if (name === "stream" && id !== undefined) {
    allow("GET", "POST");
    const job = found();
    // Read the status first, so a final status never comes before the chunks that led to it.
    const status = job.status;
    return sendJson(res, 200, { id: job.id, status, stream: queue.takeStream(job) });
  }
  if (name === "cancel" && id !== undefined) {
    allow("POST");
    const job = found();
    queue.cancel(job.id);
    return sendJson(res, 200, { id: job.id, status: job.status });
  }
  if (name === "health" && id === undefined) {
    allow("GET");
    return sendJson(res, 200, queue.health());
  }
  throw new HttpError(404, `no route ${path}`);
}

/** Serves until `stop` aborts; resolves with the exit code (1 when the server cannot listen). */
export async function runLocalApi(options: LocalApiOptions): Promise<number> {
  const { logger } = options;
  const queue = new LocalJobQueue(options);
  const server = createServer((req, res) => {
    route(queue, req, res).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      if (error instanceof HttpError) {
        if (error.status === 413) res.setHeader("Connection", "close");
        return sendJson(res, error.status, { error: error.message });
      }
      logger.error({ err: error }, "local API request failed");
      sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  });

  const listening = await new Promise<AddressInfo | Error>((resolve) => {
    server.once("error", (error) => resolve(error));
    server.listen(options.port, options.host, () => resolve(server.address() as AddressInfo));
  });
  if (listening instanceof Error) {
    logger.error({ host: options.host, port: options.port, detail: listening.message }, "the local API cannot listen");
    return 1;
  }
  logger.info(`local API listening on http://${options.host}:${listening.port} (POST /run, /runsync; GET /status/{id}, /stream/{id}, /health; POST /cancel/{id})`);
  options.onListening?.({ host: options.host, port: listening.port });

  const onHard = () => queue.abortAll();
  options.hardStop.addEventListener("abort", onHard, { once: true });
  await new Promise<void>((resolve) => {
    if (options.stop.aborted) return resolve();
    options.stop.addEventListener("abort", () => resolve(), { once: true });
  });
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await queue.drain();
  options.hardStop.removeEventListener("abort", onHard);
  // Waiting /runsync callers have had their answers; nothing else is owed.
  server.closeAllConnections();
  await closed;
  logger.info("local API stopped");
  return 0;
}
