/**
 * A local stand-in for RunPod's worker-facing job API (job-take, job-take-batch, job-stop,
 * job-done, job-stream, ping), strict about the documented shapes: the path, the query
 * parameters, the raw Authorization header and the body. Every request is recorded; anything
 * off-protocol is recorded in `violations` (tests assert it stays empty) and answered 400.
 *
 * Job takes are long polls: held until a job is queued or `holdMs` passes (then 204), like the
 * real server; `holdMs: 0` makes it answer 204 at once, as RunPod may. A stream chunk over 1 MB
 * is answered 413. Scripted answers (`scriptTake`) let a test make takes fail with 429 or 500.
 */
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
/** RunPod's cap on one stream chunk (the posted JSON body); larger ones are answered 413. */
import { STREAM_CHUNK_LIMIT_BYTES } from "../../protocol/runpod-jobs.ts";

export interface RecordedRequest {
  kind: "take" | "take-batch" | "stop" | "done" | "stream" | "ping" | "unknown";
  method: string;
  path: string;
  query: URLSearchParams;
  rawQuery: string;
  headers: IncomingMessage["headers"];
  bodyText: string;
  body: unknown;
  /** For done/stream: the job id in the path. */
  jobId?: string;
  at: number;
}

export interface FakeJob {
  id: string;
  input: unknown;
  [key: string]: unknown;
}

export interface JobResult {
  body: Record<string, unknown>;
  isStream: boolean;
  status: "COMPLETED" | "FAILED";
}

interface ScriptedAnswer {
  status: number;
  body?: string;
  contentType?: string;
}

export interface FakeServerOptions {
  apiKey?: string;
  podId?: string;
  endpointId?: string;
  /** How long an empty job-take or job-stop poll is held before 204. */
  holdMs?: number;
}

interface HeldPoll {
  res: ServerResponse;
  batchSize: number;
  timer: NodeJS.Timeout;
}

export class FakeRunpodJobServer {
  readonly apiKey: string;
  readonly podId: string;
  readonly endpointId: string;
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  readonly results = new Map<string, JobResult>();
  readonly streams = new Map<string, unknown[]>();
  /** Ids handed out and not yet answered with job-done. */
  readonly outstanding = new Set<string>();
  private readonly holdMs: number;
  private readonly queue: FakeJob[] = [];
  private readonly scripted: ScriptedAnswer[] = [];
  private readonly heldTakes: HeldPoll[] = [];
  private readonly heldStops: HeldPoll[] = [];
  private pendingStops: string[] = [];
  private readonly events = new EventEmitter();
  private readonly server = createServer((req, res) => this.handle(req, res));
  private base = "";

  constructor(options: FakeServerOptions = {}) {
    this.apiKey = options.apiKey ?? "rp_test_key_123456";
    this.podId = options.podId ?? "pod-test-1";
    this.endpointId = options.endpointId ?? "ep-test";
    this.holdMs = options.holdMs ?? 500;
    this.events.setMaxListeners(100);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.base = `http://127.0.0.1:${port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const held of [...this.heldTakes, ...this.heldStops]) {
      clearTimeout(held.timer);
      held.res.destroy();
    }
    this.heldTakes.length = 0;
    this.heldStops.length = 0;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get url(): string {
    return this.base;
  }

  /** The environment RunPod injects into a worker, pointing at this server. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const v2 = `${this.base}/v2/${this.endpointId}`;
    return {
      RUNPOD_WEBHOOK_GET_JOB: `${v2}/job-take/$RUNPOD_POD_ID?gpu=NVIDIA+TEST`,
      RUNPOD_WEBHOOK_POST_OUTPUT: `${v2}/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+TEST`,
      RUNPOD_WEBHOOK_POST_STREAM: `${v2}/job-stream/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+TEST`,
      RUNPOD_WEBHOOK_PING: `${v2}/ping/$RUNPOD_POD_ID?gpu=NVIDIA+TEST`,
      RUNPOD_POD_ID: this.podId,
      RUNPOD_AI_API_KEY: this.apiKey,
      RUNPOD_POD_HOSTNAME: "fake-host",
      RUNPOD_PING_INTERVAL: "10000",
      ...extra,
    };
  }

  enqueue(...jobs: FakeJob[]): void {
    this.queue.push(...jobs);
    this.serveHeldTakes();
  }

  /** The next job-take answers, in order, before any job is handed out. */
  scriptTake(...answers: ScriptedAnswer[]): void {
    this.scripted.push(...answers);
  }

  /** Answers a (held or next) job-stop poll with these ids. */
  stopJobs(ids: string[]): void {
    this.pendingStops.push(...ids);
    const held = this.heldStops.shift();
    if (held) {
      clearTimeout(held.timer);
      this.answerStop(held.res);
    }
  }

  requestsOf(kind: RecordedRequest["kind"]): RecordedRequest[] {
    return this.requests.filter((r) => r.kind === kind);
  }

  /** Resolves with the first recorded request (past or future) that matches. */
  waitForRequest(match: (r: RecordedRequest) => boolean, timeoutMs = 5_000, what = "request"): Promise<RecordedRequest> {
    const existing = this.requests.find(match);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onRequest = (r: RecordedRequest) => {
        if (!match(r)) return;
        clearTimeout(timer);
        this.events.off("request", onRequest);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.events.off("request", onRequest);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.events.on("request", onRequest);
    });
  }

  waitForResult(jobId: string, timeoutMs = 5_000): Promise<RecordedRequest> {
    return this.waitForRequest((r) => r.kind === "done" && r.jobId === jobId, timeoutMs, `job-done of ${jobId}`);
  }

  private violation(message: string): void {
    this.violations.push(message);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", this.base);
      const bodyText = Buffer.concat(chunks).toString("utf8");
      const record: RecordedRequest = {
        kind: "unknown",
        method: req.method ?? "",
        path: url.pathname,
        query: url.searchParams,
        rawQuery: url.search,
        headers: req.headers,
        bodyText,
        body: undefined,
        at: Date.now(),
      };
      try {
        this.route(record, res);
      } finally {
        this.requests.push(record);
        this.events.emit("request", record);
      }
    });
  }

  private reject(res: ServerResponse, message: string): void {
    this.violation(message);
    res.writeHead(400, { "Content-Type": "text/plain" });
    res.end(message);
  }

  private route(record: RecordedRequest, res: ServerResponse): void {
    const prefix = `/v2/${this.endpointId}/`;
    if (!record.path.startsWith(prefix)) return this.reject(res, `unknown path ${record.path}`);
    const [route, pod, jobId, ...rest] = record.path.slice(prefix.length).split("/");
    if (record.headers.authorization !== this.apiKey) {
      return this.reject(res, `${record.path}: Authorization must be the raw API key, got ${String(record.headers.authorization)}`);
    }
    if (pod !== this.podId) return this.reject(res, `${record.path}: worker id ${pod} instead of ${this.podId}`);
    if (record.query.get("gpu") !== "NVIDIA TEST") return this.reject(res, `${record.path}: the template's query (gpu) was lost: ${record.rawQuery}`);
    if (rest.length > 0) return this.reject(res, `unknown path ${record.path}`);
    const params = [...record.query.keys()];
    const onlyParams = (...allowed: string[]) => {
      const extra = params.filter((p) => p !== "gpu" && !allowed.includes(p));
      return extra.length === 0 ? undefined : `${record.path}: unexpected query parameters ${extra.join(",")}`;
    };

    switch (route) {
      case "job-take":
      case "job-take-batch": {
        record.kind = route === "job-take" ? "take" : "take-batch";
        if (record.method !== "GET" || jobId !== undefined) return this.reject(res, `${record.method} ${record.path} is not a job take`);
        const problem = onlyParams("job_in_progress", ...(route === "job-take-batch" ? ["batch_size"] : []));
        if (problem) return this.reject(res, problem);
        const inProgress = record.query.get("job_in_progress");
        if (inProgress !== "0" && inProgress !== "1") return this.reject(res, `job_in_progress must be 0 or 1, got ${inProgress}`);
        let batchSize = 1;
        if (route === "job-take-batch") {
          batchSize = Number(record.query.get("batch_size"));
          if (!Number.isInteger(batchSize) || batchSize < 2) return this.reject(res, `batch_size must be an integer > 1, got ${record.query.get("batch_size")}`);
        }
        return this.answerTake(res, batchSize);
      }
      case "job-stop": {
        record.kind = "stop";
        if (record.method !== "GET" || jobId !== undefined) return this.reject(res, `${record.method} ${record.path} is not a job-stop poll`);
        const problem = onlyParams();
        if (problem) return this.reject(res, problem);
        if (this.pendingStops.length > 0) return this.answerStop(res);
        const held: HeldPoll = { res, batchSize: 0, timer: setTimeout(() => this.release(this.heldStops, held), this.holdMs) };
        this.heldStops.push(held);
        res.on("close", () => this.forget(this.heldStops, held));
        return;
      }
      case "job-done":
      case "job-stream": {
        record.kind = route === "job-done" ? "done" : "stream";
        record.jobId = jobId;
        if (record.method !== "POST" || !jobId) return this.reject(res, `${record.method} ${record.path} is not a result post`);
        const problem = onlyParams("isStream");
        if (problem) return this.reject(res, problem);
        const isStream = record.query.get("isStream");
        if (isStream !== "true" && isStream !== "false") return this.reject(res, `isStream must be true or false, got ${isStream}`);
        if (route === "job-stream" && isStream !== "false") return this.reject(res, "stream posts carry isStream=false");
        const bytes = Buffer.byteLength(record.bodyText);
        if (route === "job-stream" && bytes > STREAM_CHUNK_LIMIT_BYTES) {
          this.violation(`${record.path}: stream chunk of ${bytes} bytes is over the 1 MB cap`);
          res.writeHead(413, { "Content-Type": "text/plain" });
          res.end("stream chunk too large");
          return;
        }
        let body: unknown;
        try {
          body = JSON.parse(record.bodyText);
        } catch {
          return this.reject(res, `${record.path}: body is not JSON`);
        }
        record.body = body;
        if (body === null || typeof body !== "object" || Array.isArray(body)) return this.reject(res, `${record.path}: body must be a JSON object`);
        const keys = Object.keys(body);
        if (!this.outstanding.has(jobId)) return this.reject(res, `${record.path}: job ${jobId} is not in progress on this worker`);
        if (route === "job-stream") {
          if (keys.length !== 1 || keys[0] !== "output") return this.reject(res, `stream body must be {"output": value}, got keys ${keys.join(",")}`);
          const list = this.streams.get(jobId) ?? [];
          list.push((body as { output: unknown }).output);
          this.streams.set(jobId, list);
        } else {
          const bad = keys.filter((k) => !["output", "error", "stopPod"].includes(k));
          if (bad.length > 0) return this.reject(res, `job-done body has unknown keys ${bad.join(",")}`);
          const b = body as Record<string, unknown>;
          if ("error" in b && typeof b.error !== "string") return this.reject(res, "job-done error must be a string");
          if ("stopPod" in b && b.stopPod !== true) return this.reject(res, "stopPod must be true when present");
          this.outstanding.delete(jobId);
          this.results.set(jobId, { body: b, isStream: isStream === "true", status: "error" in b ? "FAILED" : "COMPLETED" });
        }
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end("{}");
        return;
      }
      case "ping": {
        record.kind = "ping";
        if (record.method !== "GET" || jobId !== undefined) return this.reject(res, `${record.method} ${record.path} is not a ping`);
        const problem = onlyParams("job_id", "runpod_version");
        if (problem) return this.reject(res, problem);
        if (!record.query.get("runpod_version")) return this.reject(res, "ping without runpod_version");
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end("{}");
        return;
      }
      default:
        return this.reject(res, `unknown route ${route}`);
    }
  }

  private answerTake(res: ServerResponse, batchSize: number): void {
    const scripted = this.scripted.shift();
    if (scripted) {
      res.writeHead(scripted.status, { "Content-Type": scripted.contentType ?? "text/plain" });
      res.end(scripted.body ?? "");
      return;
    }
    if (this.queue.length > 0) return this.handOut(res, batchSize);
    const held: HeldPoll = { res, batchSize, timer: setTimeout(() => this.release(this.heldTakes, held), this.holdMs) };
    this.heldTakes.push(held);
    res.on("close", () => this.forget(this.heldTakes, held));
  }

  private handOut(res: ServerResponse, batchSize: number): void {
    const jobs = this.queue.splice(0, batchSize);
    for (const job of jobs) this.outstanding.add(job.id);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(batchSize > 1 ? jobs : jobs[0]));
  }

  private serveHeldTakes(): void {
    while (this.queue.length > 0 && this.heldTakes.length > 0) {
      const held = this.heldTakes.shift()!;
      clearTimeout(held.timer);
      this.handOut(held.res, held.batchSize);
    }
  }

  private answerStop(res: ServerResponse): void {
    const ids = this.pendingStops;
    this.pendingStops = [];
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ jobsToStop: ids }));
  }

  private release(list: HeldPoll[], held: HeldPoll): void {
    this.forget(list, held);
    if (held.res.writableEnded || held.res.destroyed) return;
    held.res.writeHead(204);
    held.res.end();
  }

  private forget(list: HeldPoll[], held: HeldPoll): void {
    clearTimeout(held.timer);
    const i = list.indexOf(held);
    if (i !== -1) list.splice(i, 1);
  }
}

export async function startFakeRunpodJobServer(options: FakeServerOptions = {}): Promise<FakeRunpodJobServer> {
  return new FakeRunpodJobServer(options).start();
}
