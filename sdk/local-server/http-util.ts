/**
 * Small HTTP helpers shared by the local server's route modules: bounded body reading (the
 * documented size limits answer 413 before a large body is buffered), JSON answers, and the
 * API key check RunPod applies ("Bearer <key>" or the raw key).
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";

export const MiB = 1024 * 1024;

/** An error that becomes an HTTP answer `{error: message}` with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

function describeSize(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/**
 * Reads the whole body, refusing more than `limitBytes`. A declared Content-Length over the
 * limit is refused before reading anything; a chunked body is cut off once it passes the limit.
 */
export function readBody(req: IncomingMessage, limitBytes: number, what: string): Promise<Buffer> {
  const tooLarge = (size: number, exact: boolean) =>
    new HttpError(
      413,
      `request body ${exact ? "is" : "exceeds"} ${describeSize(size)}; ${what} accepts at most ${describeSize(limitBytes)}`,
    );
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limitBytes) {
    // The rest of the body is not wanted: close the connection after answering.
    req.resume();
    return Promise.reject(tooLarge(declared, true));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limitBytes) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(size, false));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    req.on("error", (err) => {
      if (!failed) {
        failed = true;
        reject(err);
      }
    });
  });
}

/** Parses a JSON body (an empty body is `undefined`), answering 400 on malformed JSON. */
export function parseJsonBody(body: Buffer): unknown {
  const text = body.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Validates `value` with `schema`, answering 400 with the first problems in one line. */
export function validate<T extends z.ZodTypeAny>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(body)"}: ${issue.message}`)
    .join("; ");
  throw new HttpError(400, `invalid ${what}: ${problems}`);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-length": 0 });
  res.end();
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof HttpError) {
    if (err.status === 413) res.setHeader("connection", "close");
    sendJson(res, err.status, { error: err.message });
    return;
  }
  sendJson(res, 500, { error: `internal error: ${(err as Error)?.message ?? String(err)}` });
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The key in `Authorization`, as "Bearer <key>" or raw (RunPod's workers send it raw). */
export function presentedKey(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== "string" || header === "") return undefined;
  return header.replace(/^bearer\s+/i, "").trim();
}

/** True when `req` carries one of `keys` (see presentedKey). With no keys configured every request passes. */
export function isAuthorized(req: IncomingMessage, keys: readonly string[]): boolean {
  if (keys.length === 0) return true;
  const presented = presentedKey(req);
  return presented !== undefined && keys.some((key) => sameSecret(presented, key));
}

/** Calls `onGone` when the client of a held (long-poll) request goes away before the answer. */
export function onClientGone(res: ServerResponse, onGone: () => void): () => void {
  const listener = () => {
    if (!res.writableFinished) onGone();
  };
  res.on("close", listener);
  return () => res.off("close", listener);
}

/** Reads a numeric query parameter clamped into [min, max], or `fallback` when absent. */
export function queryNumber(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new HttpError(400, `query parameter ${name} must be a number, got ${JSON.stringify(raw)}`);
  return Math.min(max, Math.max(min, Math.round(value)));
}
