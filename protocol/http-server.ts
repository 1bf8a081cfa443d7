/**
 * The HTTP plumbing both RunPod endpoint emulators stand on (the worker's own local API and the
 * SDK's local server): errors that become answers, bounded body reads, JSON bodies checked with
 * a zod schema, JSON answers, and listening. Built on node:http; the few lines here are what a
 * framework would add, without one more dependency in the worker's bundle.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { z } from "zod";

const KiB = 1024;
const MiB = 1024 * KiB;

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
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MB` : `${Math.ceil(bytes / KiB)} KB`;
}

/** A limit the way RunPod's documentation writes it ("10 MB"), with no trailing ".0". */
function roundSize(bytes: number): string {
  return bytes >= MiB ? `${Number((bytes / MiB).toFixed(1))} MB` : `${Math.ceil(bytes / KiB)} KB`;
}

/**
 * Reads the whole body, refusing more than `limitBytes` with 413. A declared Content-Length over
 * the limit is refused before reading anything; a chunked body is refused as soon as it passes
 * the limit, and what follows is read and dropped so the answer can still be delivered.
 */
export function readBody(req: IncomingMessage, limitBytes: number, what: string): Promise<Buffer> {
  const tooLarge = (size: number, exact: boolean) =>
    new HttpError(
      413,
      `request body ${exact ? "is" : "exceeds"} ${describeSize(size)}, over the ${roundSize(limitBytes)} limit: ${what} accepts at most ${describeSize(limitBytes)}`,
    );
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limitBytes) {
    // The rest of the body is not wanted: drain it; the answer closes the connection.
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
export function validate<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(body)"}: ${issue.message}`)
    .join("; ");
  throw new HttpError(400, `invalid ${what}: ${problems}`);
}

/** Reads a body of at most `limitBytes`, parses it as JSON and checks it with `schema` (413 / 400). */
export async function readJsonBody<T extends z.ZodType>(req: IncomingMessage, limitBytes: number, schema: T, what: string): Promise<z.output<T>> {
  return validate(schema, parseJsonBody(await readBody(req, limitBytes, what)), `${what} body`);
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

/**
 * Answers an error: an HttpError with its status and message, anything else with 500. A 413
 * closes the connection (the unread rest of the body is not wanted); an answer already under
 * way cannot be replaced, so its connection is cut instead.
 */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof HttpError) {
    if (err.status === 413) res.setHeader("connection", "close");
    sendJson(res, err.status, { error: err.message });
    return;
  }
  sendJson(res, 500, { error: `internal error: ${(err as Error)?.message ?? String(err)}` });
}

/**
 * A request listener that runs `route` and answers whatever it throws (see sendError);
 * `onUnexpected` hears every error that is not an HttpError, to log it.
 */
export function jsonRoutes(
  route: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  onUnexpected: (err: unknown, req: IncomingMessage) => void,
): RequestListener {
  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!(err instanceof HttpError)) onUnexpected(err, req);
      sendError(res, err);
    });
  };
}

/** Starts `server` on `host`:`port` (0 for any free port); rejects when it cannot listen. */
export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
