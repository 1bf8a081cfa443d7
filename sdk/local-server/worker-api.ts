/**
 * The worker side of the server, RunPod's worker protocol (runpod-reference.md section 1):
 * `job-take` and `job-take-batch` (long polls), `job-done` (final result or progress),
 * `job-stream` (partial outputs), `ping` (heartbeat) and `job-stop` (long poll of the job ids a
 * worker must cancel). Every route is `/v2/<endpointId>/<route>/<podId>[/<jobId>]`; the caller's
 * worker key says which worker it is (worker-identity.ts), so `<podId>` may be left as
 * `$RUNPOD_POD_ID`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import { STREAM_CHUNK_LIMIT_BYTES } from "../../protocol/runpod-jobs.ts";
import type { EndpointRegistry } from "./endpoint-registry.ts";
import { HttpError, MiB, onClientGone, queryNumber, readBody, sendEmpty, sendJson, validate } from "./http-util.ts";
import type { Job, JobStore, WorkerResult } from "./job-store.ts";
import { PingReconciler } from "./ping-reconciler.ts";
import type { WorkerIdentities } from "./worker-identity.ts";
import type { WorkerSessions } from "./worker-sessions.ts";

export const WORKER_ROUTES = ["job-take", "job-take-batch", "job-done", "job-stream", "ping", "job-stop"] as const;
export type WorkerRoute = (typeof WORKER_ROUTES)[number];

export const JOB_DONE_LIMIT_BYTES = 64 * MiB;
/** A stream chunk is capped at 1 MB; the envelope `{"output": ...}` gets a little room. */
const STREAM_CHUNK_BODY_LIMIT_BYTES = STREAM_CHUNK_LIMIT_BYTES + 1024;

const JobDoneBodySchema = z
  .object({
    output: z.unknown().optional(),
    error: z.unknown().optional(),
    status: z.string().optional(),
    stopPod: z.boolean().optional(),
  })
  .passthrough();

const StreamBodySchema = z.object({ output: z.unknown() }).passthrough();

const PingQuerySchema = z.object({
  job_id: z.string().optional(),
  runpod_version: z.string().optional(),
});

const IdSchema = z.string().min(1).max(200);

export interface WorkerApiOptions {
  store: JobStore;
  sessions: WorkerSessions;
  registry: EndpointRegistry;
  identities: WorkerIdentities;
  logger: Logger;
  /** How long job-take and job-stop hold a request when there is nothing to answer. */
  longPollMs: number;
  /** A worker's job-done asked for its pod to stop (`refresh_worker`). */
  onStopPod?: (podId: string) => void;
  /** When a held job missing from a worker's pings is failed (ping-reconciler.ts). */
  reconcile?: { misses?: number; graceMs?: number };
}

export class WorkerApi {
  private readonly reconciler: PingReconciler;

  constructor(private readonly options: WorkerApiOptions) {
    this.reconciler = new PingReconciler({ store: options.store, logger: options.logger, ...options.reconcile });
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, endpointId: string, route: WorkerRoute, rest: string[]): Promise<void> {
    const podId = this.options.identities.identify(req, endpointId, validate(IdSchema, rest[0], "worker id in the URL"));
    if (!this.options.registry.get(endpointId)) throw new HttpError(404, `endpoint ${endpointId} not found`);
    const session = this.options.sessions.touch(podId, endpointId);
    switch (route) {
      case "job-take":
      case "job-take-batch": {
        this.requireMethod(req, "GET");
        const batch = route === "job-take-batch" ? queryNumber(url, "batch_size", 1, 1, 1000) : 1;
        if (session.draining) return sendEmpty(res, 204);
        return this.take(res, endpointId, podId, batch, route === "job-take-batch");
      }
      case "job-done": {
        this.requireMethod(req, "POST");
        const jobId = validate(IdSchema, rest[1], "job id in the URL");
        return this.done(req, res, url, endpointId, podId, jobId);
      }
      case "job-stream": {
        this.requireMethod(req, "POST");
        const jobId = validate(IdSchema, rest[1], "job id in the URL");
        const body = validate(StreamBodySchema, parseWorkerJson(await readBody(req, STREAM_CHUNK_BODY_LIMIT_BYTES, "job-stream (one chunk)")), "stream body");
        const outcome = this.options.store.appendStream(endpointId, jobId, podId, body.output);
        return this.answerOutcome(res, outcome, jobId, podId);
      }
      case "ping": {
        this.requireMethod(req, "GET");
        const query = validate(PingQuerySchema, Object.fromEntries(url.searchParams), "ping query");
        this.reconciler.onPing(endpointId, podId, query.job_id ? query.job_id.split(",").filter(Boolean) : []);
        return sendJson(res, 200, {});
      }
      case "job-stop": {
        this.requireMethod(req, "GET");
        const controller = new AbortController();
        const detach = onClientGone(res, () => controller.abort());
        const ids = await this.options.sessions.takeStops(podId, this.options.longPollMs, controller.signal);
        detach();
        if (ids.length === 0) return sendEmpty(res, 204);
        return sendJson(res, 200, { jobsToStop: ids });
      }
    }
  }

  private requireMethod(req: IncomingMessage, method: "GET" | "POST"): void {
    if (req.method !== method && !(method === "GET" && req.method === "HEAD")) throw new HttpError(405, `use ${method} for this route`);
  }

  private async take(res: ServerResponse, endpointId: string, podId: string, max: number, batch: boolean): Promise<void> {
    const controller = new AbortController();
    const detach = onClientGone(res, () => controller.abort());
    const jobs = await this.options.store.take(endpointId, podId, max, this.options.longPollMs, controller.signal);
    detach();
    if (jobs.length === 0) return sendEmpty(res, 204);
    if (res.destroyed) {
      this.options.store.returnUndelivered(jobs, podId);
      return;
    }
    // Jobs whose answer never reaches the worker go back to the queue instead of waiting for
    // an execution timeout on a worker that never saw them.
    onClientGone(res, () => this.returnJobs(jobs, podId));
    const payload = jobs.map((job: Job) => ({ id: job.id, input: job.input }));
    sendJson(res, 200, batch ? payload : payload[0]);
  }

  private returnJobs(jobs: Job[], podId: string): void {
    this.options.logger.warn({ podId, jobs: jobs.map((j) => j.id) }, "a job-take answer was not delivered; the jobs go back to the queue");
    this.options.store.returnUndelivered(jobs, podId);
  }

  private async done(req: IncomingMessage, res: ServerResponse, url: URL, endpointId: string, podId: string, jobId: string): Promise<void> {
    const isStream = url.searchParams.get("isStream") === "true";
    const body = validate(JobDoneBodySchema, parseWorkerJson(await readBody(req, JOB_DONE_LIMIT_BYTES, "job-done")), "job-done body");
    let result: WorkerResult;
    if (body.status === "IN_PROGRESS" && !isStream) {
      result = { kind: "progress", output: body.output };
    } else if (typeof body.error === "string" && body.error !== "") {
      result = { kind: "final", hasOutput: body.output !== undefined, output: body.output, error: body.error };
    } else if (body.error) {
      // RunPod's platform leaves a job whose `error` is not a string COMPLETED with no output;
      // the local server does the same so such a worker bug shows up here, and says why.
      this.options.logger.warn({ jobId, podId }, "job-done `error` is not a string: the job is COMPLETED with no output (RunPod does the same)");
      result = { kind: "final", hasOutput: false };
    } else {
      result = { kind: "final", hasOutput: body.output !== undefined, output: body.output };
    }
    const outcome = this.options.store.report(endpointId, jobId, podId, result);
    if (body.stopPod === true && outcome === "ok") this.options.onStopPod?.(podId);
    this.answerOutcome(res, outcome, jobId, podId);
  }

  private answerOutcome(res: ServerResponse, outcome: string, jobId: string, podId: string): void {
    switch (outcome) {
      case "ok":
        return sendJson(res, 200, {});
      case "already-final":
        return sendJson(res, 200, { ignored: `job ${jobId} is already in a final state` });
      case "not-held":
        this.options.logger.warn({ jobId, podId }, "a worker posted for a job it does not hold; ignored");
        throw new HttpError(409, `job ${jobId} is not held by worker ${podId}`);
      default:
        throw new HttpError(404, `job ${jobId} not found`);
    }
  }
}

/**
 * Worker bodies are JSON text; RunPod's Python library labels them
 * `application/x-www-form-urlencoded`, so the content type is not trusted either way.
 */
function parseWorkerJson(body: Buffer): unknown {
  const text = body.toString("utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `worker body is not JSON (${(err as Error).message})`);
  }
}
