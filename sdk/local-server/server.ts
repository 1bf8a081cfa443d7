/**
 * The local RunPod: one HTTP server that is at once RunPod's endpoint API (`/v2/<id>/run` ...),
 * its worker job API (`/v2/<id>/job-take/<pod>` ...) and its management GraphQL (`/graphql`),
 * plus the worker processes of each endpoint. Clients and workers cannot tell it from RunPod
 * except by its base URL.
 */
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join, resolve } from "node:path";
import { z } from "zod";
import { jsonRoutes, listen } from "../../protocol/http-server.ts";
import { silentLogger, type Logger } from "../../protocol/logger.ts";
import { PACKAGE_ROOT, WORKER_BUNDLE } from "../package-root.ts";
import { BlobApi } from "./blob-api.ts";
import { BlobFiles } from "./blob-files.ts";
import { Dashboard } from "./dashboard/routes.ts";
import { CLIENT_ROUTES, EndpointApi, type ClientRoute, type HealthView } from "./endpoint-api.ts";
import { EndpointRegistry, type EndpointConfig } from "./endpoint-registry.ts";
import { GraphQLApi } from "./graphql.ts";
import { registerInProcessServer } from "./in-process-servers.ts";
import { hostEnvironmentForWorkers } from "./host-environment.ts";
import { decodePathSegments, keyProblemForBind, RequestGuard, requireJsonBody } from "./request-guard.ts";
import { HttpError, isAuthorized, keyAccepted, sendJson } from "./http-util.ts";
import { JobStore } from "./job-store.ts";
import { WebhookSender } from "../../protocol/webhook-sender.ts";
import { WORKER_ROUTES, WorkerApi, type WorkerRoute } from "./worker-api.ts";
import { runpodWorkerVariables, WorkerIdentities } from "./worker-identity.ts";
import { WorkerSessions } from "./worker-sessions.ts";
import { WorkerManager, type WorkerInfo, type WorkerOutputLine } from "./workers.ts";

/** The worker bundle of the installed package, found from this module, not from the working directory. */
export const DEFAULT_WORKER_SCRIPT = WORKER_BUNDLE;
/** The dashboard's built page (`images/build-dashboard.mjs`). */
export const DASHBOARD_DIR = join(PACKAGE_ROOT, "dist", "dashboard");
export const LOCAL_SERVER_VERSION = "0.1.0";

const ms = z.number().int().nonnegative();

export const LocalServerOptionsSchema = z.object({
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  /**
   * When set, client routes and GraphQL want `Authorization: Bearer <key>` (or the raw key).
   * Worker routes never take it: they want a worker's own key (see `issueWorker`).
   */
  apiKey: z.string().min(1).optional(),
  /** Where endpoint definitions and venvs live (default `.ferry`, relative to `cwd`). */
  stateDir: z.string().min(1).optional(),
  /** The worker command (default: this Node running the package's `dist/handler.mjs`). */
  workerCommand: z.array(z.string().min(1)).min(1).optional(),
  /** Working directory of worker processes (default: the server's). */
  cwd: z.string().optional(),
  /**
   * Environment workers start from, as given; RunPod identity variables are replaced. Default:
   * the allow-listed part of `process.env` (host-environment.ts), so a shell's secrets stay out.
   */
  env: z.record(z.string(), z.string().optional()).optional(),
  logger: z.custom<Logger>((v) => typeof v === "object" && v !== null).optional(),
  onWorkerOutput: z.custom<(line: WorkerOutputLine) => void>((v) => typeof v === "function").optional(),
  /** Endpoints to create at start (as `saveEndpoint` inputs); handy for tests and scripts. */
  endpoints: z.array(z.unknown()).optional(),
  /** Keep endpoint definitions in `<stateDir>/local-endpoints.json` (default true). */
  persistEndpoints: z.boolean().optional(),
  /** RUNPOD_PING_INTERVAL given to workers (default 2000 ms). */
  pingIntervalMs: ms.optional(),
  /** A worker holding jobs that has not called in for this long is lost (default 30 s). */
  pingTimeoutMs: ms.optional(),
  /** A held job missing from this many consecutive pings of its worker, over at least graceMs, fails (defaults 3 and 10 s). */
  pingReconcile: z.object({ misses: z.number().int().positive().optional(), graceMs: ms.optional() }).optional(),
  /** How long job-take and job-stop are held when there is nothing to answer (default 30 s). */
  longPollMs: ms.optional(),
  /** Longest hold of `/stream` without new chunks (default 2.5 s). */
  streamWaitMs: ms.optional(),
  resultRetention: z.object({ runMs: ms.optional(), runsyncMs: ms.optional() }).optional(),
  webhookRetryDelayMs: ms.optional(),
  /** How long a stopped worker may finish its jobs before it is killed (default 10 s). */
  workerStopGraceMs: ms.optional(),
  workerOutputLines: z.number().int().positive().optional(),
  /** Names besides loopback and the bound address that requests may carry in `Host` / `Origin`. */
  allowedHosts: z.array(z.string().min(1)).optional(),
  /** A request must arrive whole (headers and body) within this time, else 408 (default 30 s). */
  requestReadTimeoutMs: z.number().int().positive().optional(),
  /** Open connections at most; more are closed at once (default 1,000). */
  maxConnections: z.number().int().positive().optional(),
  /** Call values stored as blobs: how long one is kept when its caller never deletes it (default 30 min), and the largest accepted. */
  blobs: z.object({ retentionMs: ms.optional(), maxBytes: z.number().int().positive().optional() }).optional(),
});
export type LocalServerOptions = z.input<typeof LocalServerOptionsSchema>;

export interface LocalServer {
  /** Base URL, e.g. http://127.0.0.1:8765 (GraphQL at `/graphql`). */
  url: string;
  port: number;
  /** Endpoint API base, `<url>/v2` (runpod-sdk's `baseUrl`, RunPod's RUNPOD_ENDPOINT_BASE_URL). */
  endpointBaseUrl: string;
  graphqlUrl: string;
  stateDir: string;
  /** Creates or updates an endpoint exactly as `saveEndpoint` does. */
  saveEndpoint(input: unknown): EndpointConfig;
  endpoints(): EndpointConfig[];
  health(endpointId: string): HealthView;
  workers(endpointId?: string): WorkerInfo[];
  /**
   * RunPod's variables for a worker of `endpointId` started elsewhere (RUNPOD_WEBHOOK_*,
   * RUNPOD_POD_ID, RUNPOD_AI_API_KEY ...): a fresh pod id and a key bound to it.
   */
  issueWorker(endpointId: string): Record<string, string>;
  /** Stops every worker (each finishes its jobs within a grace period) and the HTTP server. */
  close(): Promise<void>;
  /** Kills every worker and what it started in its process group now, with no grace period. */
  killWorkers(): void;
  /** Lets the process exit while the server runs (embedded use); its workers die with the process. */
  unref(): void;
}

export async function startLocalServer(rawOptions: LocalServerOptions = {}): Promise<LocalServer> {
  const options = LocalServerOptionsSchema.parse(rawOptions);
  const logger = options.logger ?? silentLogger();
  const host = options.host ?? "127.0.0.1";
  const cwd = resolve(options.cwd ?? process.cwd());
  const stateDir = resolve(cwd, options.stateDir ?? ".ferry");
  const pingIntervalMs = options.pingIntervalMs ?? 2000;
  const keyProblem = keyProblemForBind(host, options.apiKey);
  if (keyProblem) throw new Error(keyProblem);
  const guard = new RequestGuard({ host, allowedHosts: options.allowedHosts });
  const apiKeys = options.apiKey ? [options.apiKey] : [];
  const identities = new WorkerIdentities({ clientKey: options.apiKey });

  const store = new JobStore({ resultRetention: options.resultRetention });
  const registry = new EndpointRegistry({ file: options.persistEndpoints === false ? undefined : join(stateDir, "local-endpoints.json") });
  for (const input of options.endpoints ?? []) registry.save(input);

  let baseUrl = "";
  let managerRef: WorkerManager | undefined;
  const sessions = new WorkerSessions({
    store,
    pingTimeoutMs: options.pingTimeoutMs ?? 30_000,
    onLost: (session, reason, expected) => {
      const details = { endpointId: session.endpointId, worker: session.name, podId: session.podId, reason };
      if (expected) logger.info(details, "worker stopped");
      else logger.warn(details, "worker lost");
      if (session.managed) managerRef?.killWorker(session.podId, `lost: ${reason}`);
    },
  });
  const webhooks = new WebhookSender({ logger, retryDelayMs: options.webhookRetryDelayMs });
  store.onFinal((job) => {
    if (job.webhook) webhooks.send(job.webhook, store.view(job), job.id);
  });

  const blobFiles = new BlobFiles({ dir: join(stateDir, "blobs"), retentionMs: options.blobs?.retentionMs, maxBytes: options.blobs?.maxBytes, baseUrl: () => baseUrl });
  const manager = new WorkerManager({
    registry,
    store,
    sessions,
    logger,
    workerCommand: options.workerCommand ?? [process.execPath, DEFAULT_WORKER_SCRIPT],
    serverUrl: () => baseUrl,
    stateDir,
    blobFolder: () => ({ dir: blobFiles.dir, urlPrefix: blobFiles.urlPrefix() }),
    identities,
    pingIntervalMs,
    cwd,
    baseEnv: () => (options.env as NodeJS.ProcessEnv | undefined) ?? hostEnvironmentForWorkers(process.env),
    outputLines: options.workerOutputLines,
    onOutput:
      options.onWorkerOutput ??
      ((line) => logger.info({ endpoint: line.endpointName || line.endpointId, worker: line.worker, stream: line.stream }, line.line)),
    stopGraceMs: options.workerStopGraceMs,
  });
  managerRef = manager;

  const endpointApi = new EndpointApi({ store, registry, sessions, streamWaitMs: options.streamWaitMs ?? 2500 });
  const workerApi = new WorkerApi({
    store,
    sessions,
    registry,
    identities,
    logger,
    longPollMs: options.longPollMs ?? 30_000,
    onStopPod: (podId) => manager.stopWorker(podId, "the worker asked to be refreshed (refresh_worker)"),
    reconcile: options.pingReconcile,
  });
  const graphql = new GraphQLApi({ registry, logger });
  const dashboard = new Dashboard({
    store,
    staticDir: DASHBOARD_DIR,
    endpoints: () => registry.list(),
    counts: (endpointId) => store.counts(endpointId),
    workers: () => manager.list(),
  });
  const blobApi = new BlobApi(blobFiles);

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    guard.checkSource(req);
    const url = new URL(req.url ?? "/", "http://local");
    const parts = decodePathSegments(url.pathname);
    if (dashboard.isPageRequest(req, parts)) return dashboard.page(res, parts);
    if (parts.length === 0) {
      return sendJson(res, 200, { server: "ferry-local-runpod", version: LOCAL_SERVER_VERSION, pid: process.pid, endpointBaseUrl: `${baseUrl}/v2`, graphqlUrl: `${baseUrl}/graphql` });
    }
    // A worker's blob URL carries its own authority, a capability token, instead of the API key.
    if (parts[0] === "blobs") return blobApi.handleWorker(req, res, url, parts.slice(1));
    // Worker routes check the worker's own key (WorkerApi); everything else wants the client key.
    if (parts[0] === "v2" && parts.length >= 3 && (WORKER_ROUTES as readonly string[]).includes(parts[2]!)) {
      const [, endpointId, action, ...rest] = parts as [string, string, string, ...string[]];
      return workerApi.handle(req, res, url, endpointId, action as WorkerRoute, rest);
    }
    if (!isAuthorized(req, apiKeys)) throw new HttpError(401, "missing or wrong API key: send Authorization: Bearer <key>");
    if (parts.length === 1 && parts[0] === "graphql") {
      requireJsonBody(req);
      return graphql.handle(req, res);
    }
    if (dashboard.isApiRequest(parts)) return dashboard.api(req, res, parts);
    if (parts[0] === "v2" && parts.length >= 3) {
      const [, endpointId, action, ...rest] = parts as [string, string, string, ...string[]];
      if ((CLIENT_ROUTES as readonly string[]).includes(action)) {
        requireJsonBody(req);
        return endpointApi.handle(req, res, url, endpointId, action as ClientRoute, rest);
      }
      if (action === "blobs") return blobApi.handleCaller(req, res, rest);
    }
    throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
  };

  const requestReadTimeoutMs = options.requestReadTimeoutMs ?? 30_000;
  // A request still arriving after requestReadTimeoutMs is answered 408 and closed (checked at
  // least once a second). An answer held open afterwards (a long poll, runsync) is not limited.
  const server = createServer({ requestTimeout: requestReadTimeoutMs, headersTimeout: requestReadTimeoutMs, connectionsCheckingInterval: Math.min(1000, requestReadTimeoutMs) }, jsonRoutes(route, (err, req) => logger.error({ err, url: req.url }, "request failed")));
  // Keep-alive sockets idle between long polls.
  server.keepAliveTimeout = 65_000;
  server.maxConnections = options.maxConnections ?? 1000;

  const { port } = await listen(server, options.port ?? 0, host);
  const reachableHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  baseUrl = `http://${reachableHost}:${port}`;
  logger.info({ url: baseUrl, stateDir }, "local RunPod server listening");
  if (!options.workerCommand && !existsSync(DEFAULT_WORKER_SCRIPT)) {
    logger.warn(`${DEFAULT_WORKER_SCRIPT} is missing: build the worker with \`node images/build.mjs\` before sending jobs`);
  }
  manager.start();
  const unregister = registerInProcessServer(`${baseUrl}/v2`, {
    blobs: blobFiles,
    accepts: (apiKey) => keyAccepted(apiKey, apiKeys),
  });

  let closing: Promise<void> | undefined;
  // Workers hold long polls open; once unref'd, those connections must not keep the process alive.
  let unrefed = false;
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (unrefed) socket.unref();
  });
  return {
    url: baseUrl,
    port,
    endpointBaseUrl: `${baseUrl}/v2`,
    graphqlUrl: `${baseUrl}/graphql`,
    stateDir,
    saveEndpoint: (input) => registry.save(input),
    endpoints: () => registry.list(),
    health: (endpointId) => endpointApi.health(endpointId),
    workers: (endpointId) => manager.list(endpointId),
    issueWorker: (endpointId) => {
      if (!registry.get(endpointId)) throw new Error(`endpoint ${endpointId} not found`);
      return runpodWorkerVariables(baseUrl, identities.issue(endpointId), pingIntervalMs);
    },
    killWorkers: () => manager.killAll(),
    unref: () => {
      unrefed = true;
      server.unref();
      for (const socket of sockets) socket.unref();
      manager.unref();
    },
    close: () => {
      closing ??= (async () => {
        unregister();
        await manager.close(options.workerStopGraceMs ?? 5000);
        store.close();
        blobFiles.close();
        sessions.close();
        webhooks.close();
        await new Promise<void>((resolvePromise) => {
          server.close(() => resolvePromise());
          server.closeAllConnections();
        });
        logger.info("local RunPod server stopped");
      })();
      return closing;
    },
  };
}
