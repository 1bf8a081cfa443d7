/**
 * Blob transfers over plain HTTP, for the worker and the SDK alike: GET a blob into one buffer of the size its reference
 * promised, and PUT bytes to a place the caller made. Plain HTTP, no storage credentials: the
 * URLs carry their own authority (a presigned S3 URL, or the local server's capability token).
 */
import { constants } from "node:buffer";

export class BlobTransferError extends Error {
  override name = "BlobTransferError";
}

const REQUEST_TIMEOUT_MS = Number(process.env.FERRY_BLOB_TIMEOUT_MS ?? 600_000);

/** Attempts for a request that failed before any answer (a kept-alive connection the server closed as it was reused). */
const CONNECT_ATTEMPTS = 3;

/**
 * `fetch`, tried again when it fails before any answer came. Both blob requests are safe to
 * repeat: a GET, and a PUT of the same bytes to the same place.
 */
async function fetchWithRetry(url: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, { ...init, signal });
    } catch (error) {
      if (signal.aborted || attempt >= CONNECT_ATTEMPTS) throw error;
    }
  }
}

/** An error's message with its cause (undici's "fetch failed" says nothing without it). */
function describe(error: unknown): string {
  const e = error as Error & { cause?: unknown };
  const cause = e.cause as (Error & { code?: string }) | undefined;
  return cause?.message ? `${e.message}: ${cause.code ? `${cause.code} ` : ""}${cause.message}` : e.message;
}

/** The URL without its query, which holds the signature or token and must never be logged or echoed. */
export function redactUrl(url: string): string {
  const cut = url.search(/[?#]/);
  return cut >= 0 ? `${url.slice(0, cut)}?...` : url;
}

function statusHint(status: number): string {
  if (status === 403) return " (a presigned URL that expired, or a token that does not match)";
  if (status === 404) return " (the blob does not exist, or was already deleted)";
  return "";
}

/**
 * Reads the blob at `url`, which must be exactly `bytes` long. The body is written into one
 * buffer as it arrives: no list of chunks to join, and a body longer than promised is cut off at
 * once instead of being held.
 */
export async function getBlob(url: string, bytes: number, signal?: AbortSignal, headers: Record<string, string> = {}): Promise<Buffer> {
  if (bytes > constants.MAX_LENGTH) throw new BlobTransferError(`the blob at ${redactUrl(url)} is ${bytes} bytes, over the ${constants.MAX_LENGTH} bytes one value may be`);
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetchWithRetry(url, { headers }, signal ? AbortSignal.any([signal, timeout]) : timeout);
  } catch (error) {
    throw new BlobTransferError(`could not fetch ${redactUrl(url)}: ${describe(error)}`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new BlobTransferError(`fetching ${redactUrl(url)} answered HTTP ${response.status}${statusHint(response.status)}`);
  }
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && response.headers.has("content-length") && declared !== bytes) {
    await response.body.cancel().catch(() => undefined);
    throw new BlobTransferError(`the blob at ${redactUrl(url)} is ${declared} bytes but its reference says ${bytes}`);
  }
  const out = Buffer.allocUnsafe(bytes);
  let filled = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.byteLength > bytes) {
        await reader.cancel().catch(() => undefined);
        throw new BlobTransferError(`the blob at ${redactUrl(url)} is longer than the ${bytes} bytes its reference says`);
      }
      out.set(value, filled);
      filled += value.byteLength;
    }
  } catch (error) {
    if (error instanceof BlobTransferError) throw error;
    throw new BlobTransferError(`reading ${redactUrl(url)} failed after ${filled} of ${bytes} bytes: ${describe(error)}`);
  }
  if (filled !== bytes) throw new BlobTransferError(`the blob at ${redactUrl(url)} ended after ${filled} bytes; its reference says ${bytes} (truncated)`);
  return out;
}

/** Writes `body` to `url` with one PUT (S3 presigned PUTs take a plain body with its length). */
export async function putBlob(url: string, body: Uint8Array, signal?: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  let response: Response;
  try {
    // fetch's types want an ArrayBuffer-backed view; a Buffer's may be shared, which fetch reads the same.
    const payload = body as Uint8Array<ArrayBuffer>;
    response = await fetchWithRetry(url, { method: "PUT", body: payload, headers: { "content-type": "application/octet-stream" } }, signal ? AbortSignal.any([signal, timeout]) : timeout);
  } catch (error) {
    throw new BlobTransferError(`could not upload to ${redactUrl(url)}: ${describe(error)}`);
  }
  const text = await response.text().catch(() => "");
  if (!response.ok) throw new BlobTransferError(`uploading to ${redactUrl(url)} answered HTTP ${response.status}${statusHint(response.status)}${text ? `: ${text.slice(0, 200)}` : ""}`);
}
