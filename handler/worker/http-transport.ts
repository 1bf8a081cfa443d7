/**
 * One HTTP exchange with RunPod's job API, whole body read. The default goes through node:http
 * with keep-alive agents: a worker makes two requests per job (take, done), and on a busy
 * machine fetch's per-request cost (undici's Request and Headers objects, web streams) was
 * about a millisecond of CPU per job. A `fetch` given to startWorker (tests use it to inject
 * failures) is adapted to the same shape.
 */
import http from "node:http";
import https from "node:https";

export interface HttpAnswer {
  status: number;
  ok: boolean;
  contentType: string;
  text: string;
}

export interface HttpRequest {
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Bounds the whole exchange, answer body included. */
  timeoutMs: number;
}

export type HttpTransport = (url: string, request: HttpRequest) => Promise<HttpAnswer>;

const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

function timeoutError(ms: number): Error {
  return new DOMException(`no answer in ${ms} ms`, "TimeoutError");
}

export const nodeHttpTransport: HttpTransport = (url, request) =>
  new Promise<HttpAnswer>((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === "https:" ? https : http;
    const headers: Record<string, string | number> = { ...request.headers };
    if (request.body !== undefined) headers["Content-Length"] = Buffer.byteLength(request.body);
    const req = client.request(target, { method: request.method, headers, agent: agents[target.protocol as "http:" | "https:"] });
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      req.destroy();
      reject(error);
    };
    const onAbort = () => fail(request.signal?.reason ?? new DOMException("This operation was aborted", "AbortError"));
    const timer = setTimeout(() => fail(timeoutError(request.timeoutMs)), request.timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
    };
    if (request.signal?.aborted) return onAbort();
    request.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", fail);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", fail);
      res.on("end", () => {
        if (settled) return;
        settled = true;
        cleanup();
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, contentType: String(res.headers["content-type"] ?? ""), text: Buffer.concat(chunks).toString("utf8") });
      });
    });
    req.end(request.body);
  });

export function fetchTransport(fetchImpl: typeof fetch): HttpTransport {
  return async (url, request) => {
    const controller = new AbortController();
    const onAbort = () => controller.abort(request.signal?.reason);
    if (request.signal?.aborted) onAbort();
    request.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(timeoutError(request.timeoutMs)), request.timeoutMs);
    try {
      const res = await fetchImpl(url, { method: request.method, headers: request.headers, body: request.body, signal: controller.signal });
      const text = await res.text();
      return { status: res.status, ok: res.ok, contentType: res.headers.get("content-type") ?? "", text };
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
    }
  };
}
