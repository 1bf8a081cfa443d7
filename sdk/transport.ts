/**
 * RunPod's endpoint API (runpod-reference.md section 3) over `fetch`: `/run`, `/runsync`,
 * `/status`, `/status-sync`, `/stream`, `/cancel`, `/health`, `/purge-queue`.
 *
 * Why not `runpod-sdk` for these calls: its functions take no AbortSignal (a cancelled call
 * would keep its request open), turn non-200 answers into return values instead of errors
 * (a 401 would read as a job status), retry nothing (429 is the API's normal back-pressure),
 * print to the console, and its `stream()` loops on `/stream` with no pause when the server
 * does not hold the request. Its base URL option and its payload types do fit, so the types
 * are taken from it and the base URL stays configurable the same way.
 *
 * Retries: 429, 408, 502, 503, 504 and transient network errors (connection refused or reset,
 * DNS try-again, socket errors), with exponential backoff and jitter, honouring Retry-After.
 * A user's exception is a job result, never an HTTP failure, so it is never retried here.
 */
import type { EndpointInputPayload, HealthCheck, PurgeQueueOutput } from "runpod-sdk";
import { z } from "zod";
import { ApiError, AuthenticationError, ConnectionError, RateLimitError } from "./errors.ts";

export const FINAL_STATUSES = ["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"] as const;
export type JobState = "IN_QUEUE" | "IN_PROGRESS" | (typeof FINAL_STATUSES)[number];

export function isFinalStatus(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export const JobStatusSchema = z
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

export const StreamAnswerSchema = z
  .object({
    status: z.string(),
    stream: z.array(z.unknown()).nullish().transform((v) => v ?? []),
    error: z.unknown().optional(),
  })
  .passthrough();
export type StreamAnswer = z.infer<typeof StreamAnswerSchema>;

export type RunRequest = Pick<EndpointInputPayload, "webhook" | "policy"> & { input: unknown };
export type { HealthCheck, PurgeQueueOutput };

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 5, baseDelayMs: 250, maxDelayMs: 8_000 };

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

const RETRY_STATUSES = new Set([408, 429, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
]);

function isTransientNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const cause = (error as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown }).code;
  if (typeof code === "string") return TRANSIENT_CODES.has(code);
  // undici's socket errors without an errno code (the peer closed the socket mid-request).
  const causeName = (cause as { name?: unknown } | undefined)?.name;
  return causeName === "SocketError" || causeName === "ConnectTimeoutError";
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A backoff pause that an abort ends early (rejecting with the signal's reason). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function backoffDelay(attempt: number, policy: RetryPolicy): number {
  const raw = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return raw * (0.75 + Math.random() * 0.5);
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal | undefined;
  query?: Record<string, string | number>;
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
    this.headers = { accept: "application/json", "content-type": "application/json", "user-agent": "ferry-sdk/0.1.0" };
    if (apiKey) this.headers.authorization = `Bearer ${apiKey}`;
  }

  async request(method: "GET" | "POST", url: string, options: RequestOptions = {}): Promise<unknown> {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetchImpl(url, { method, headers: this.headers, body, signal: options.signal ?? null });
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (isTransientNetworkError(error) && attempt < this.retry.maxRetries) {
          await pause(backoffDelay(attempt, this.retry), options.signal);
          continue;
        }
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
      if (RETRY_STATUSES.has(response.status)) {
        const after = retryAfterMs(response.headers.get("retry-after"));
        if (attempt < this.retry.maxRetries) {
          await pause(Math.min(this.retry.maxDelayMs * 4, after ?? backoffDelay(attempt, this.retry)), options.signal);
          continue;
        }
        if (response.status === 429) throw new RateLimitError(url, text, after, attempt + 1);
      }
      throw new ApiError(response.status, url, text);
    }
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

  /** Queues a job; answers at once with its id. */
  async run(request: RunRequest, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url("run");
    return parse(JobStatusSchema, await this.http.request("POST", url, { body: request, signal }), url);
  }

  /** Queues a job and holds the answer up to `waitMs` (1000..300000): the full status when it finished by then, else `{id, status}`. */
  async runsync(request: RunRequest, waitMs: number, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url("runsync", { wait: clampWait(waitMs) });
    return parse(JobStatusSchema, await this.http.request("POST", url, { body: request, signal }), url);
  }

  async status(jobId: string, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url(`status/${encodeURIComponent(jobId)}`);
    return parse(JobStatusSchema, await this.http.request("GET", url, { signal }), url);
  }

  /** The status, held up to `waitMs` until the job is final. */
  async statusSync(jobId: string, waitMs: number, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url(`status-sync/${encodeURIComponent(jobId)}`, { wait: clampWait(waitMs) });
    return parse(JobStatusSchema, await this.http.request("GET", url, { signal }), url);
  }

  /** Stream chunks not yet returned; the server may hold the request until there is one or the job is final. */
  async stream(jobId: string, signal?: AbortSignal): Promise<StreamAnswer> {
    const url = this.url(`stream/${encodeURIComponent(jobId)}`);
    return parse(StreamAnswerSchema, await this.http.request("GET", url, { signal }), url);
  }

  async cancel(jobId: string, signal?: AbortSignal): Promise<JobStatus> {
    const url = this.url(`cancel/${encodeURIComponent(jobId)}`);
    return parse(JobStatusSchema, await this.http.request("POST", url, { body: {}, signal }), url);
  }

  async health(signal?: AbortSignal): Promise<HealthCheck> {
    const url = this.url("health");
    return (await this.http.request("GET", url, { signal })) as HealthCheck;
  }

  async purgeQueue(signal?: AbortSignal): Promise<PurgeQueueOutput> {
    const url = this.url("purge-queue");
    return (await this.http.request("POST", url, { body: {}, signal })) as PurgeQueueOutput;
  }
}

function clampWait(ms: number): number {
  return Math.round(Math.min(300_000, Math.max(1000, ms)));
}
