/**
 * RunPod's endpoint API (runpod-reference.md section 3) over `fetch`: `/run`, `/runsync`,
 * `/status`, `/stream`, `/cancel`, `/health`, `/purge-queue`.
 *
 * Why not `runpod-sdk` for these calls: its functions take no AbortSignal (a cancelled call
 * would keep its request open), turn non-200 answers into return values instead of errors
 * (a 401 would read as a job status), retry nothing (429 is the API's normal back-pressure),
 * print to the console, and its `stream()` loops on `/stream` with no pause when the server
 * does not hold the request. Its base URL option and its payload types do fit, so the types
 * are taken from it and the base URL stays configurable the same way.
 *
 * Retries (`protocol/retry.ts`): exponential backoff with full jitter; a Retry-After replaces
 * it, up to four times the longest backoff. A request that is safe to repeat (a read, a cancel,
 * an update or delete by id) is retried on 429, 408, 502, 503, 504 and transient network errors
 * (connection refused or reset, DNS try-again, socket errors). A request that is not (`/run`,
 * `/runsync`, `/purge-queue`, creating an endpoint) may already have been accepted when a
 * gateway error or a broken connection comes back, and a retry would start a second job or
 * create a second endpoint; it is retried only on 429 (the request was turned away) and on
 * failures before any connection existed. A user's exception
 * is a job result, never an HTTP failure, so it is never retried here.
 */
import { z } from "zod";
import { retry, retryAfterMs, type FailureKind } from "../protocol/retry.ts";
import { clampRunsyncWait, isFinalStatus } from "../protocol/runpod-jobs.ts";
import { ApiError, AuthenticationError, ConnectionError, RateLimitError } from "./errors.ts";
import { VERSION } from "./version.ts";

export { isFinalStatus };

const JobStatusSchema = z
  .object({
    id: z.string().optional(),
    status: z.string(),
    delayTime: z.number().optional(),
    executionTime: z.number().optional(),
    output: z.unknown().optional(),
    error: z.unknown().optional(),
    workerId: z.string().optional(),
  })
  .passthrough();
export type JobStatus = z.infer<typeof JobStatusSchema>;

const StreamAnswerSchema = z
  .object({
    status: z.string(),
    stream: z.array(z.unknown()).nullish().transform((v) => v ?? []),
    error: z.unknown().optional(),
  })
  .passthrough();
export type StreamAnswer = z.infer<typeof StreamAnswerSchema>;

/** `/health`: RunPod's job and worker counts (runpod-reference.md section 3). */
const HealthSchema = z
  .object({
    jobs: z.object({ completed: z.number(), failed: z.number(), inProgress: z.number(), inQueue: z.number(), retried: z.number() }).passthrough(),
    workers: z.object({ idle: z.number(), initializing: z.number(), ready: z.number(), running: z.number(), throttled: z.number() }).passthrough(),
  })
  .passthrough();

/** `/purge-queue`: how many queued jobs were removed. */
const PurgeQueueSchema = z.object({ removed: z.number(), status: z.string() }).passthrough();

/** `/health` of an endpoint: job and worker counts (the shape runpod-sdk's `HealthCheck` names). */
export interface HealthCheck {
  jobs: { completed: number; failed: number; inProgress: number; inQueue: number; retried: number };
  workers: { idle: number; initializing: number; ready: number; running: number; throttled: number };
}

/** `/purge-queue`'s answer. */
export interface PurgeQueueOutput {
  removed: number;
  status: string;
}

/** RunPod's per-job execution policy (`/run` body `policy`). */
export interface ExecutionPolicy {
  executionTimeout?: number;
  lowPriority?: boolean;
  ttl?: number;
}

/** The body of `/run` and `/runsync`. */
export interface RunRequest {
  input: unknown;
  webhook?: string;
  policy?: ExecutionPolicy;
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { maxRetries: 5, baseDelayMs: 250, maxDelayMs: 8_000 };

export interface EndpointClientOptions {
  /** `https://api.runpod.ai/v2`, or the local server's `${url}/v2`. */
  baseUrl: string;
  endpointId: string;
  apiKey?: string | undefined;
  /** Where the key came from, for AuthenticationError's message. */
  keySource: string;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
}

/** Statuses that may pass; which of them a request is repeated on depends on its idempotency. */
const RETRY_STATUSES = new Set([408, 429, 502, 503, 504]);

/** Failures before a connection existed: the server cannot have seen the request. */
const BEFORE_CONNECTION_CODES = new Set(["ECONNREFUSED", "EAI_AGAIN", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);
/** Failures on an open connection: the server may have taken the request before it broke. */
const ON_CONNECTION_CODES = new Set(["ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

type NetworkFailure = "before-connection" | "on-connection" | "permanent";

function classifyNetworkError(error: unknown): NetworkFailure {
  if (!(error instanceof Error)) return "permanent";
  const cause = (error as { cause?: unknown }).cause;
  const source = (cause ?? error) as { code?: unknown; message?: unknown; name?: unknown };
  const code = source.code ?? (error as { code?: unknown }).code;
  if (typeof code === "string") {
    if (BEFORE_CONNECTION_CODES.has(code)) return "before-connection";
    if (ON_CONNECTION_CODES.has(code)) return "on-connection";
    // A lookup that failed for now (resolver unreachable) rather than a name that does not exist.
    if (code === "ENOTFOUND" && /EAI_AGAIN|try again/i.test(String(source.message ?? ""))) return "before-connection";
    return "permanent";
  }
  // undici's errors without an errno code: the peer closed the socket mid-request, or connecting timed out.
  if (source.name === "SocketError") return "on-connection";
  if (source.name === "ConnectTimeoutError") return "before-connection";
  return "permanent";
}

/** A failed fetch as the retry loop judges it (see the top of this file). */
function networkFailureKind(error: unknown): FailureKind {
  const failure = classifyNetworkError(error);
  return failure === "before-connection" ? "not-taken" : failure === "on-connection" ? "maybe-taken" : "permanent";
}

/** An answer whose status may pass; thrown inside the retry loop and turned into the caller's error when the retries are spent. */
class RetryableAnswer extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${status}`);
  }
}

/** 429 means the request was turned away; 408 and a gateway's 502/503/504 can come after the server took it. */
function answerFailureKind(status: number): FailureKind {
  return status === 429 ? "not-taken" : "maybe-taken";
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal | undefined;
  query?: Record<string, string | number>;
  /**
   * Whether sending the request twice does no more than sending it once; decides which
   * failures are retried (see the top of this file). Default: true for GET, false for POST.
   */
  idempotent?: boolean | undefined;
}

/** HTTP with the retry rules above and errors by status. Shared by the endpoint API and GraphQL. */
export class HttpClient {
  private readonly fetchImpl: typeof fetch;
  private readonly retry: RetryPolicy;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly apiKey: string | undefined,
    private readonly keySource: string,
    options: { fetch?: typeof fetch | undefined; retry?: Partial<RetryPolicy> | undefined } = {},
  ) {
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.headers = { accept: "application/json", "content-type": "application/json", "user-agent": `ferry-sdk/${VERSION}` };
    if (apiKey) this.headers.authorization = `Bearer ${apiKey}`;
  }

  async request(method: "GET" | "POST", url: string, options: RequestOptions = {}): Promise<unknown> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const signal = options.signal;
    const { maxRetries, baseDelayMs, maxDelayMs } = this.retry;
    try {
      return await retry(() => this.attempt(method, url, body, signal), {
        retries: maxRetries,
        idempotent: options.idempotent ?? method === "GET",
        backoff: { baseMs: baseDelayMs, maxMs: maxDelayMs, jitter: "full" },
        maxRetryAfterMs: maxDelayMs * 4,
        signal,
        classify: (error) => {
          if (error instanceof ConnectionError) return networkFailureKind(error.cause);
          if (error instanceof RetryableAnswer) return { kind: answerFailureKind(error.status), retryAfterMs: error.retryAfterMs };
          return "permanent";
        },
      });
    } catch (error) {
      if (!(error instanceof RetryableAnswer)) throw error;
      if (error.status === 429) throw new RateLimitError(url, error.body, error.retryAfterMs, maxRetries + 1);
      throw new ApiError(error.status, url, error.body);
    }
  }

  /** One request: the parsed JSON answer, or the failure the retry loop judges. */
  private async attempt(method: "GET" | "POST", url: string, body: string | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method, headers: this.headers, body, signal: signal ?? null });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new ConnectionError(url, error);
    }
    if (response.ok) {
      const text = await response.text();
      if (!text) return null;
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new ApiError(response.status, url, text, `${url} answered text that is not JSON: ${text.slice(0, 200)}`);
      }
    }
    const text = await response.text().catch(() => "");
    if (response.status === 401 || response.status === 403) throw new AuthenticationError(response.status, url, text, this.keySource);
    if (RETRY_STATUSES.has(response.status)) throw new RetryableAnswer(response.status, text, retryAfterMs(response.headers.get("retry-after")));
    throw new ApiError(response.status, url, text);
  }
}

function parse<T extends z.ZodTypeAny>(schema: T, value: unknown, url: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(200, url, JSON.stringify(value)?.slice(0, 300) ?? "", `${url} answered an unexpected shape: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}

/** One endpoint's client API. */
export class EndpointClient {
  readonly endpointId: string;
  readonly baseUrl: string;
  private readonly http: HttpClient;
  private readonly root: string;

  constructor(options: EndpointClientOptions) {
    this.endpointId = options.endpointId;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.root = `${this.baseUrl}/${encodeURIComponent(options.endpointId)}`;
    this.http = new HttpClient(options.apiKey, options.keySource, { fetch: options.fetch, retry: options.retry });
  }

  private url(path: string, query?: Record<string, string | number>): string {
    if (!query) return `${this.root}/${path}`;
    const qs = Object.entries(query)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join("&");
    return `${this.root}/${path}?${qs}`;
  }

  /** Queues a job; answers at once with its id. Not idempotent: each accepted request is a job. */
  async run(request: RunRequest, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url("run");
    return parse(JobStatusSchema, await this.http.request("POST", url, { body: request, signal, idempotent: false }), url);
  }

  /** Queues a job and holds the answer up to `waitMs` (1000..300000): the full status when it finished by then, else `{id, status}`. */
  async runsync(request: RunRequest, waitMs: number, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url("runsync", { wait: clampRunsyncWait(waitMs) });
    return parse(JobStatusSchema, await this.http.request("POST", url, { body: request, signal, idempotent: false }), url);
  }

  async status(jobId: string, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url(`status/${encodeURIComponent(jobId)}`);
    return parse(JobStatusSchema, await this.http.request("GET", url, { signal }), url);
  }

  /** Stream chunks not yet returned; the server may hold the request until there is one or the job is final. */
  async stream(jobId: string, signal?: AbortSignal): Promise<StreamAnswer> {
    const url = this.url(`stream/${encodeURIComponent(jobId)}`);
    return parse(StreamAnswerSchema, await this.http.request("GET", url, { signal }), url);
  }

  /** Cancelling a job twice leaves it as cancelling it once. */
  async cancel(jobId: string, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url(`cancel/${encodeURIComponent(jobId)}`);
    return parse(JobStatusSchema, await this.http.request("POST", url, { body: {}, signal, idempotent: true }), url);
  }

  async health(signal?: AbortSignal): Promise<HealthCheck> {
    const url = this.url("health");
    return parse(HealthSchema, await this.http.request("GET", url, { signal }), url);
  }

  /** Not repeated after a possible acceptance: a second purge would also drop jobs queued in between. */
  async purgeQueue(signal?: AbortSignal): Promise<PurgeQueueOutput> {
    const url = this.url("purge-queue");
    return parse(PurgeQueueSchema, await this.http.request("POST", url, { body: {}, signal, idempotent: false }), url);
  }
}

