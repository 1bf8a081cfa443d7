/**
 * The worker's blob transfers: GET an argument blob into one buffer of the size its reference
 * promised, PUT a result to its output place from the buffer that holds it. Plain HTTP with the
 * URL's own authority (a presigned S3 URL, or the local server's capability token).
 *
 * node:http, as the worker's job traffic (worker/http-transport.ts), not fetch: undici copies a
 * Uint8Array PUT body twice before sending it (512 MB more at the peak of a 256 MB result), and
 * loading it costs a worker tens of MB of memory for good. Presigned S3 PUTs want what
 * node:http sends: a plain body of a declared length, no chunked encoding.
 */
import { constants } from "node:buffer";
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlobTransferError, redactUrl } from "../../protocol/blob-http.ts";
import { allocateValueBuffer } from "../engine/memory-release.ts";

const REQUEST_TIMEOUT_MS = Number(process.env.FERRY_BLOB_TIMEOUT_MS ?? 600_000);

/** Attempts for a request that failed before any answer (a kept-alive connection the server closed as it was reused). */
const CONNECT_ATTEMPTS = 3;

/** Most of an error answer's text kept for a message. */
const ANSWER_TEXT_CHARS = 200;

/** A failure before the server answered: safe to repeat (a GET, or a PUT of the same bytes to the same place). */
class NoAnswerError extends Error {}

function statusHint(status: number): string {
  if (status === 403) return " (a presigned URL that expired, or a token that does not match)";
  if (status === 404) return " (the blob does not exist, or was already deleted)";
  return "";
}

/** An error's message with its code (`ECONNREFUSED`), which Node's message may leave out. */
function describe(error: Error & { code?: string }): string {
  return error.code && !error.message.includes(error.code) ? `${error.code} ${error.message}` : error.message;
}

function parseUrl(url: string, what: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new BlobTransferError(`${what} ${redactUrl(url)}: not a URL`);
  }
}

/**
 * One request, tried again when it failed before any answer; `read` takes the answer's body.
 * Every failure is a BlobTransferError that starts with `what` and the URL without its query.
 */
async function exchange<T>(
  url: string,
  options: RequestOptions,
  body: Uint8Array | undefined,
  what: string,
  signal: AbortSignal | undefined,
  read: (response: IncomingMessage) => Promise<T>,
): Promise<T> {
  const target = parseUrl(url, what);
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const send: (url: URL, options: RequestOptions, onResponse: (res: IncomingMessage) => void) => ClientRequest = target.protocol === "https:" ? httpsRequest : httpRequest;
  for (let attempt = 1; ; attempt++) {
    try {
      return await new Promise<T>((resolve, reject) => {
        let answered = false;
        const request = send(target, { ...options, signal: both }, (response) => {
          answered = true;
          read(response).then(resolve, reject);
        });
        request.on("error", (error) => reject(answered ? error : Object.assign(new NoAnswerError(describe(error)), { cause: error })));
        request.end(body);
      });
    } catch (error) {
      if (error instanceof BlobTransferError) throw error;
      if (error instanceof NoAnswerError && !both.aborted && attempt < CONNECT_ATTEMPTS) continue;
      throw new BlobTransferError(`${what} ${redactUrl(url)}: ${describe(error as Error)}`);
    }
  }
}

/** Up to ANSWER_TEXT_CHARS of an answer's text, the rest read and dropped. */
function answerText(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    response.setEncoding("utf8");
    response.on("data", (piece: string) => {
      if (text.length < ANSWER_TEXT_CHARS) text += piece;
    });
    response.on("end", () => resolve(text.slice(0, ANSWER_TEXT_CHARS)));
    response.on("error", reject);
  });
}

/**
 * Reads the blob at `url`, which must be exactly `bytes` long, into one buffer as it arrives: no
 * chunks to join, and a body longer than promised is cut off at once instead of being held.
 */
export async function downloadBlob(url: string, bytes: number, signal?: AbortSignal): Promise<Buffer> {
  const where = redactUrl(url);
  if (bytes > constants.MAX_LENGTH) throw new BlobTransferError(`the blob at ${where} is ${bytes} bytes, over the ${constants.MAX_LENGTH} bytes one value may be`);
  return exchange(url, { method: "GET" }, undefined, "could not fetch", signal, async (response) => {
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      response.resume();
      throw new BlobTransferError(`fetching ${where} answered HTTP ${status}${statusHint(status)}`);
    }
    const declared = response.headers["content-length"];
    if (declared !== undefined && Number(declared) !== bytes) {
      response.destroy();
      throw new BlobTransferError(`the blob at ${where} is ${declared} bytes but its reference says ${bytes}`);
    }
    const out = allocateValueBuffer(bytes);
    let filled = 0;
    try {
      for await (const piece of response as AsyncIterable<Buffer>) {
        if (filled + piece.length > bytes) {
          response.destroy();
          throw new BlobTransferError(`the blob at ${where} is longer than the ${bytes} bytes its reference says`);
        }
        piece.copy(out, filled);
        filled += piece.length;
      }
    } catch (error) {
      if (error instanceof BlobTransferError) throw error;
      throw new BlobTransferError(`reading ${where} failed after ${filled} of ${bytes} bytes: ${describe(error as Error)}`);
    }
    if (filled !== bytes) throw new BlobTransferError(`the blob at ${where} ended after ${filled} bytes; its reference says ${bytes} (truncated)`);
    return out;
  });
}

/** Writes `body` to `url` with one PUT of its declared length, from its own memory. */
export async function uploadBlob(url: string, body: Uint8Array, signal?: AbortSignal): Promise<void> {
  const headers = { "content-type": "application/octet-stream", "content-length": body.byteLength };
  const { status, text } = await exchange(url, { method: "PUT", headers }, body, "could not upload to", signal, async (response) => ({
    status: response.statusCode ?? 0,
    text: await answerText(response),
  }));
  if (status < 200 || status >= 300) {
    throw new BlobTransferError(`uploading to ${redactUrl(url)} answered HTTP ${status}${statusHint(status)}${text ? `: ${text}` : ""}`);
  }
}
