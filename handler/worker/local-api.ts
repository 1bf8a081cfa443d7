/**
 * `--rp_serve_api`: a local HTTP server that speaks RunPod's endpoint API to this worker's
 * handler. It answers the routes RunPod's Python library serves (`POST /run`, `/runsync`,
 * `/status/{id}`, `/stream/{id}`) and the cloud's (`GET /status/{id}`, `GET /stream/{id}`,
 * `POST /cancel/{id}`, `GET /health`) with the cloud's shapes; a `/v2/<endpoint>` prefix is
 * accepted so endpoint-API clients can point here. The jobs themselves live in `local-jobs.ts`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { delay } from "../../protocol/abortable-sleep.ts";
import { HttpError, jsonRoutes, listen, readJsonBody, sendJson } from "../../protocol/http-server.ts";
import type { Logger } from "../../protocol/logger.ts";
import {
  RUN_BODY_LIMIT_BYTES,
  RUNSYNC_BODY_LIMIT_BYTES,
  RUNSYNC_WAIT_DEFAULT_MS,
  clampRunsyncWait,
  isFinalStatus,
} from "../../protocol/runpod-jobs.ts";
import { LocalJobQueue, RunRequestSchema, type LocalJobQueueOptions } from "./local-jobs.ts";

export interface LocalApiOptions extends LocalJobQueueOptions {
  host: string;
  port: number;
  logger: Logger;
  stop: AbortSignal;
  hardStop: AbortSignal;
  onListening?: (address: { host: string; port: number }) => void;
}

function waitParam(url: URL): number {
  const raw = url.searchParams.get("wait");
  const wait = raw === null ? RUNSYNC_WAIT_DEFAULT_MS : Number(raw);
  if (!Number.isFinite(wait)) return RUNSYNC_WAIT_DEFAULT_MS;
  return clampRunsyncWait(wait);
}

async function route(queue: LocalJobQueue, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://local");
  const path = url.pathname.replace(/^\/v2\/[^/]+(?=\/)/, "").replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  const [, name, id, extra] = path.split("/");
  const allow = (...methods: string[]) => {
    if (!methods.includes(method)) throw new HttpError(405, `${method} is not allowed on ${path}`);
  };
  const found = () => {
    const job = id ? queue.get(id) : undefined;
    if (!job) throw new HttpError(404, `job ${id ?? ""} not found`);
    return job;
  };
  if (extra !== undefined) throw new HttpError(404, `no route ${path}`);

  if (name === "run" && id === undefined) {
    allow("POST");
    const job = queue.submit(await readJsonBody(req, RUN_BODY_LIMIT_BYTES, RunRequestSchema, "/run"), false);
    // The cloud answers from its queue, before any worker has the job.
    return sendJson(res, 200, { id: job.id, status: "IN_QUEUE" });
  }
  if (name === "runsync" && id === undefined) {
    allow("POST");
    const job = queue.submit(await readJsonBody(req, RUNSYNC_BODY_LIMIT_BYTES, RunRequestSchema, "/runsync"), true);
    const timeout = new AbortController();
    await Promise.race([job.done, delay(waitParam(url), timeout.signal)]);
    timeout.abort();
    const status = queue.statusObject(job);
    return sendJson(res, 200, isFinalStatus(job.status) ? status : { id: job.id, status: job.status });
  }
  if (name === "status" && id !== undefined) {
    allow("GET", "POST");
    return sendJson(res, 200, queue.statusObject(found()));
  }
  if (name === "stream" && id !== undefined) {
    allow("GET", "POST");
    const job = found();
    // Read the status first, so a final status never comes before the chunks that led to it.
    const status = job.status;
    return sendJson(res, 200, { id: job.id, status, stream: queue.takeStream(job) });
  }
  if (name === "cancel" && id !== undefined) {
    allow("POST");
    const job = found();
    queue.cancel(job.id);
    return sendJson(res, 200, { id: job.id, status: job.status });
  }
  if (name === "health" && id === undefined) {
    allow("GET");
    return sendJson(res, 200, queue.health());
  }
  throw new HttpError(404, `no route ${path}`);
}

/** Serves until `stop` aborts; resolves with the exit code (1 when the server cannot listen). */
export async function runLocalApi(options: LocalApiOptions): Promise<number> {
  const { logger } = options;
  const queue = new LocalJobQueue(options);
  const server = createServer(
    jsonRoutes(
      (req, res) => route(queue, req, res),
      (err) => logger.error({ err }, "local API request failed"),
    ),
  );

  let port: number;
  try {
    ({ port } = await listen(server, options.port, options.host));
  } catch (error) {
    logger.error({ host: options.host, port: options.port, detail: (error as Error).message }, "the local API cannot listen");
    return 1;
  }
  logger.info(`local API listening on http://${options.host}:${port} (POST /run, /runsync; GET /status/{id}, /stream/{id}, /health; POST /cancel/{id})`);
  options.onListening?.({ host: options.host, port });

  const onHard = () => queue.abortAll();
  options.hardStop.addEventListener("abort", onHard, { once: true });
  await new Promise<void>((resolve) => {
    if (options.stop.aborted) return resolve();
    options.stop.addEventListener("abort", () => resolve(), { once: true });
  });
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await queue.drain();
  options.hardStop.removeEventListener("abort", onHard);
  // Waiting /runsync callers have had their answers; nothing else is owed.
  server.closeAllConnections();
  await closed;
  logger.info("local API stopped");
  return 0;
}
