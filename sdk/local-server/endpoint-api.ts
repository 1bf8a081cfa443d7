/**
 * The client side of the server, RunPod's endpoint API (runpod-reference.md section 3):
 * `/v2/<endpointId>/run`, `runsync`, `status/<id>`, `status-sync/<id>` (what runpod-sdk's
 * `runSync` polls), `stream/<id>`, `cancel/<id>`, `retry/<id>`, `purge-queue`, `health`.
 * Waits (runsync, status-sync, stream) are answered the moment the job changes, not by polling.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import {
  DEFAULT_EXECUTION_TIMEOUT_MS,
  RUN_BODY_LIMIT_BYTES,
  RUNSYNC_BODY_LIMIT_BYTES,
  RUNSYNC_WAIT_DEFAULT_MS,
  RUNSYNC_WAIT_MAX_MS,
  RUNSYNC_WAIT_MIN_MS,
  isFinalStatus as isFinal,
} from "../../protocol/runpod-jobs.ts";
import type { EndpointRegistry } from "./endpoint-registry.ts";
import { HttpError, onClientGone, parseJsonBody, queryNumber, readBody, sendJson, validate } from "./http-util.ts";
import type { Job, JobStore } from "./job-store.ts";
import { drainStream, hasUnreadStream } from "./stream-cursor.ts";
import { refuseDeepInput } from "./request-guard.ts";
import type { WorkerSessions } from "./worker-sessions.ts";

export const CLIENT_ROUTES = ["run", "runsync", "status", "status-sync", "stream", "cancel", "retry", "purge-queue", "health"] as const;
export type ClientRoute = (typeof CLIENT_ROUTES)[number];

export const DEFAULT_TTL_MS = 86_400_000;
const WEEK_MS = 7 * 86_400_000;

const PolicySchema = z
  .object({
    executionTimeout: z.number().int().positive().max(WEEK_MS).optional(),
    ttl: z.number().int().positive().max(WEEK_MS).optional(),
    lowPriority: z.boolean().optional(),
  })
  .passthrough();

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), "must be an http(s) URL");

export const RunRequestSchema = z
  .object({
    input: z.unknown().refine((v) => v !== undefined, "input is required"),
    webhook: httpUrl.optional(),
    webhookV2: httpUrl.optional(),
    s3Config: z.unknown().optional(),
    policy: PolicySchema.optional(),
  })
  .passthrough();

const JobIdSchema = z.string().min(1).max(200);

export interface EndpointApiOptions {
  store: JobStore;
  registry: EndpointRegistry;
  sessions: WorkerSessions;
  /** Longest hold of `/stream` when no new chunk arrives (a `?wait=` may shorten it). */
  streamWaitMs: number;
}

export interface HealthView {
  jobs: { completed: number; failed: number; inProgress: number; inQueue: number; retried: number };
  workers: { idle: number; initializing: number; ready: number; running: number; throttled: number; unhealthy: number };
}

export class EndpointApi {
  constructor(private readonly options: EndpointApiOptions) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, endpointId: string, route: ClientRoute, rest: string[]): Promise<void> {
    const endpoint = this.options.registry.get(endpointId);
    if (!endpoint) throw new HttpError(404, `endpoint ${endpointId} not found`);
    const store = this.options.store;
    switch (route) {
      case "run":
      case "runsync": {
        requireMethod(req, ["POST"]);
        const limit = route === "run" ? RUN_BODY_LIMIT_BYTES : RUNSYNC_BODY_LIMIT_BYTES;
        const hint = route === "run" ? " (use /runsync for up to 20 MB, or pass large data by URL)" : " (pass large data by URL)";
        let raw: Buffer;
        try {
          raw = await readBody(req, limit, `/${route}`);
        } catch (err) {
          if (err instanceof HttpError && err.status === 413) throw new HttpError(413, err.message + hint);
          throw err;
        }
        const body = validate(RunRequestSchema, parseJsonBody(raw), `/${route} body`);
        refuseDeepInput(body.input);
        const job = store.submit(endpointId, body.input, {
          webhook: body.webhook ?? body.webhookV2,
          mode: route,
          policy: {
            executionTimeoutMs: body.policy?.executionTimeout ?? (endpoint.executionTimeoutMs || DEFAULT_EXECUTION_TIMEOUT_MS),
            ttlMs: body.policy?.ttl ?? DEFAULT_TTL_MS,
            lowPriority: body.policy?.lowPriority ?? false,
          },
        });
        // A waiting worker may already hold the job; the answer is RunPod's regardless.
        if (route === "run") return sendJson(res, 200, { id: job.id, status: "IN_QUEUE" });
        const waitMs = queryNumber(url, "wait", RUNSYNC_WAIT_DEFAULT_MS, RUNSYNC_WAIT_MIN_MS, RUNSYNC_WAIT_MAX_MS);
        const finished = await this.waitFinal(res, job, waitMs);
        if (finished && isFinal(finished.status)) return sendJson(res, 200, store.view(finished));
        return sendJson(res, 200, { id: job.id, status: finished?.status ?? "IN_QUEUE" });
      }
      case "status":
      case "status-sync": {
        requireMethod(req, ["GET", "POST"]);
        const job = this.job(endpointId, rest[0]);
        if (route === "status-sync") {
          const waitMs = queryNumber(url, "wait", RUNSYNC_WAIT_DEFAULT_MS, 0, RUNSYNC_WAIT_MAX_MS);
          const current = await this.waitFinal(res, job, waitMs);
          if (!current) throw new HttpError(404, `job ${job.id} not found`);
          return sendJson(res, 200, store.view(current));
        }
        return sendJson(res, 200, store.view(job));
      }
      case "stream": {
        requireMethod(req, ["GET", "POST"]);
        const job = this.job(endpointId, rest[0]);
        const waitMs = queryNumber(url, "wait", this.options.streamWaitMs, 0, 60_000);
        const controller = new AbortController();
        const detach = onClientGone(res, () => controller.abort());
        const current = await store.waitFor(job, (j) => hasUnreadStream(j) || isFinal(j.status), waitMs, controller.signal);
        detach();
        if (!current) throw new HttpError(404, `job ${job.id} not found`);
        const answer: Record<string, unknown> = { status: current.status, stream: drainStream(current) };
        if (current.error !== undefined) answer.error = current.error;
        return sendJson(res, 200, answer);
      }
      case "cancel": {
        requireMethod(req, ["POST"]);
        const id = validate(JobIdSchema, rest[0], "job id");
        const job = store.cancel(endpointId, id);
        if (!job) throw notFound(id);
        return sendJson(res, 200, { id: job.id, status: job.status });
      }
      case "retry": {
        requireMethod(req, ["POST"]);
        const id = validate(JobIdSchema, rest[0], "job id");
        const outcome = store.retry(endpointId, id);
        if ("error" in outcome) throw new HttpError(outcome.status, outcome.error);
        return sendJson(res, 200, { id: outcome.job.id, status: outcome.job.status });
      }
      case "purge-queue": {
        requireMethod(req, ["POST"]);
        return sendJson(res, 200, { removed: store.purgeQueue(endpointId), status: "completed" });
      }
      case "health": {
        requireMethod(req, ["GET", "POST"]);
        return sendJson(res, 200, this.health(endpointId));
      }
    }
  }

  health(endpointId: string): HealthView {
    const workers = { idle: 0, initializing: 0, ready: 0, running: 0, throttled: 0, unhealthy: 0 };
    for (const session of this.options.sessions.list(endpointId)) {
      const state = this.options.sessions.state(session);
      if (state === "initializing") workers.initializing++;
      else if (state === "idle") workers.idle++;
      else if (state === "running") workers.running++;
      else if (this.options.store.heldJobs(session.podId).size > 0) workers.running++;
    }
    // "ready": workers up and taking work, whether busy or not.
    workers.ready = workers.idle + workers.running;
    return { jobs: this.options.store.counts(endpointId), workers };
  }

  private job(endpointId: string, rawId: string | undefined): Job {
    const id = validate(JobIdSchema, rawId, "job id");
    const job = this.options.store.get(endpointId, id);
    if (!job) throw notFound(id);
    return job;
  }

  private async waitFinal(res: ServerResponse, job: Job, waitMs: number): Promise<Job | undefined> {
    const controller = new AbortController();
    const detach = onClientGone(res, () => controller.abort());
    const current = await this.options.store.waitFor(job, (j) => isFinal(j.status), waitMs, controller.signal);
    detach();
    return current;
  }
}

function requireMethod(req: IncomingMessage, methods: string[]): void {
  if (!methods.includes(req.method ?? "")) throw new HttpError(405, `use ${methods.join(" or ")} for this route`);
}

function notFound(id: string): HttpError {
  return new HttpError(404, `job ${id} not found (unknown, or past its ttl or result retention)`);
}
