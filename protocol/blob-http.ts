/**
 * Blob transfers over plain HTTP, for the worker and the SDK alike: GET a blob into one buffer of the size its reference
 * promised, and PUT bytes to a place the caller made. Plain HTTP, no storage credentials: the
 * URLs carry their own authority (a presigned S3 URL, or the local server's capability token).
 *
 * node:http rather than fetch: fetch copies a request body whole before sending it and hands
 * the response over as web-stream chunks it copies again; here a body goes to the socket from
 * the caller's own memory (in parts, so a value's array bytes are never joined to its header),
 * and each response chunk is copied once, into the buffer the caller gets.
 */
import { constants } from "node:buffer";
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";

export class BlobTransferError extends Error {
  override name = "BlobTransferError";
}

const REQUEST_TIMEOUT_MS = Number(process.env.FERRY_BLOB_TIMEOUT_MS ?? 600_000);

/** Attempts for a request that failed before any answer (a kept-alive connection the server closed as it was reused). */
const CONNECT_ATTEMPTS = 3;

/** A body sent as consecutive parts, in order; one part is a plain body. */
export type BlobBody = Uint8Array | readonly Uint8Array[];

function partsOf(body: BlobBody | undefined): readonly Uint8Array[] {
  if (body === undefined) return [];
  return body instanceof Uint8Array ? [body] : body;
}

/** One request; resolves with the response once its head arrived. */
function send(url: string, method: string, headers: Record<string, string>, body: BlobBody | undefined, signal: AbortSignal): Promise<IncomingMessage> {
  const parsed = new URL(url);
  const request = parsed.protocol === "https:" ? httpsRequest : parsed.protocol === "http:" ? httpRequest : undefined;
  if (!request) return Promise.reject(new Error(`unsupported protocol ${parsed.protocol}`));
  const parts = partsOf(body);
  const length = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const options: RequestOptions = { method, headers: body === undefined ? headers : { ...headers, "content-length": String(length) }, signal };
  return new Promise((resolve, reject) => {
    const req = request(parsed, options, resolve);
    req.on("error", reject);
    for (const part of parts) req.write(part);
    req.end();
  });
}

/**
 * A request, tried again when it fails before any answer came. Both blob requests are safe to
 * repeat: a GET, and a PUT of the same bytes to the same place.
 */
async function sendWithRetry(url: string, method: string, headers: Record<string, string>, body: BlobBody | undefined, signal: AbortSignal): Promise<IncomingMessage> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send(url, method, headers, body, signal);
    } catch (error) {
      if (signal.aborted || attempt >= CONNECT_ATTEMPTS) throw signal.aborted ? (signal.reason ?? error) : error;
    }
  }
}

/** An error's message with its code and cause, if any. */
function describe(error: unknown): string {
  const e = error as Error & { cause?: unknown; code?: string };
  const cause = e.cause as (Error & { code?: string }) | undefined;
  if (cause?.message) return `${e.message}: ${cause.code ? `${cause.code} ` : ""}${cause.message}`;
  return e.code && !e.message.includes(e.code) ? `${e.code} ${e.message}` : e.message;
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

function timeoutFor(signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** The rest of a response body as text (at most `limit` characters kept), for an error message. */
async function bodyText(response: IncomingMessage, limit = 200): Promise<string> {
  let text = "";
  response.setEncoding("utf8");
  try {
    for await (const chunk of response as AsyncIterable<string>) if (text.length < limit) text += chunk;
  } catch {
    // the error message goes without the body
  }
  return text.slice(0, limit);
}

/**
 * Reads the blob at `url`, which must be exactly `bytes` long. The body is written into one
 * buffer as it arrives: no list of chunks to join, and a body longer than promised is cut off at
 * once instead of being held.
 */
export async function getBlob(url: string, bytes: number, signal?: AbortSignal, headers: Record<string, string> = {}): Promise<Buffer> {
  if (bytes > constants.MAX_LENGTH) throw new BlobTransferError(`the blob at ${redactUrl(url)} is ${bytes} bytes, over the ${constants.MAX_LENGTH} bytes one value may be`);
  const both = timeoutFor(signal);
  let response: IncomingMessage;
  try {
    response = await sendWithRetry(url, "GET", headers, undefined, both);
  } catch (error) {
    throw new BlobTransferError(`could not fetch ${redactUrl(url)}: ${describe(error)}`);
  }
  const status = response.statusCode ?? 0;
  if (status < 200 || status > 299) {
    response.destroy();
    throw new BlobTransferError(`fetching ${redactUrl(url)} answered HTTP ${status}${statusHint(status)}`);
  }
  const declaredHeader = response.headers["content-length"];
  if (declaredHeader !== undefined && Number(declaredHeader) !== bytes) {
    response.destroy();
    throw new BlobTransferError(`the blob at ${redactUrl(url)} is ${declaredHeader} bytes but its reference says ${bytes}`);
  }
  const out = Buffer.allocUnsafe(bytes);
  let filled = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      if (filled + chunk.byteLength > bytes) {
        response.destroy();
        throw new BlobTransferError(`the blob at ${redactUrl(url)} is longer than the ${bytes} bytes its reference says`);
      }
      chunk.copy(out, filled);
      filled += chunk.byteLength;
    }
  } catch (error) {
    if (error instanceof BlobTransferError) throw error;
    throw new BlobTransferError(`reading ${redactUrl(url)} failed after ${filled} of ${bytes} bytes: ${describe(error)}`);
  }
  if (filled !== bytes) throw new BlobTransferError(`the blob at ${redactUrl(url)} ended after ${filled} bytes; its reference says ${bytes} (truncated)`);
  return out;
}

/**
 * Sends `body` (one buffer, or parts in order) with `method` and answers the status and the
 * first 64 KB of the answer's text. Shared by the worker's PUTs and the SDK's uploads to the
 * local store, whose answer is JSON.
 */
export async function uploadBlob(url: string, method: "PUT" | "POST", body: BlobBody, headers: Record<string, string>, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  let response: IncomingMessage;
  try {
    response = await sendWithRetry(url, method, headers, body, timeoutFor(signal));
  } catch (error) {
    throw new BlobTransferError(`could not upload to ${redactUrl(url)}: ${describe(error)}`);
  }
  return { status: response.statusCode ?? 0, text: await bodyText(response, 64 * 1024) };
}

/** Writes `body` to `url` with one PUT (S3 presigned PUTs take a plain body with its length). */
export async function putBlob(url: string, body: BlobBody, signal?: AbortSignal): Promise<void> {
  const { status, text } = await uploadBlob(url, "PUT", body, { "content-type": "application/octet-stream" }, signal);
  if (status < 200 || status > 299) throw new BlobTransferError(`uploading to ${redactUrl(url)} answered HTTP ${status}${statusHint(status)}${text ? `: ${text.slice(0, 200)}` : ""}`);
}
