/**
 * `ferry serve`: runs the local RunPod in the foreground, says where it listens and what to set
 * so RunPod clients use it, records itself in `<stateDir>/local.json` so the SDK finds it, shows
 * worker output prefixed with endpoint and worker, and on Ctrl-C stops the workers and exits.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { createLogger, type Logger } from "../../protocol/logger.ts";
import { LOCAL_SERVER_VERSION, startLocalServer, type LocalServer } from "./server.ts";
import type { WorkerOutputLine } from "./workers.ts";
import { processAlive } from "../../protocol/process-alive.ts";

export const DEFAULT_LOCAL_PORT = 8765;
export const LOCAL_RECORD_FILE = "local.json";

export const LocalServerRecordSchema = z.object({
  url: z.string().url(),
  endpointBaseUrl: z.string().url(),
  graphqlUrl: z.string().url(),
  pid: z.number().int().positive(),
  port: z.number().int().positive(),
  host: z.string(),
  stateDir: z.string(),
  /** Whether the server wants an API key (the key itself is never written). */
  authRequired: z.boolean(),
  startedAt: z.string(),
  version: z.string(),
});
export type LocalServerRecord = z.infer<typeof LocalServerRecordSchema>;

export interface ServeOptions {
  port?: number;
  host?: string;
  apiKey?: string;
  stateDir?: string;
  workerCommand?: string[];
  /** Stops the server like Ctrl-C does (tests, embedding). */
  signal?: AbortSignal;
  /** Where the banner and worker output go (default: stdout). */
  write?: (text: string) => void;
  logger?: Logger;
  /** Listen for SIGINT / SIGTERM (default true). */
  handleSignals?: boolean;
  /** Called once the server listens and the record is written. */
  onReady?: (server: LocalServer) => void;
}

export function localRecordPath(stateDir = ".ferry"): string {
  return resolve(stateDir, LOCAL_RECORD_FILE);
}

/** The running local server recorded in `<stateDir>/local.json`, or undefined (none, or stale). */
export function readLocalServerRecord(stateDir = ".ferry"): LocalServerRecord | undefined {
  let text: string;
  try {
    text = readFileSync(localRecordPath(stateDir), "utf8");
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = LocalServerRecordSchema.safeParse(json);
  if (!parsed.success || !processAlive(parsed.data.pid)) return undefined;
  return parsed.data;
}

const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** One worker line for the terminal: JSON log lines (workers on RunPod log JSON) read as text. */
export function formatWorkerLine(line: WorkerOutputLine): string {
  const prefix = `[${line.endpointName || line.endpointId}/${line.worker}]`;
  if (line.line.startsWith("{")) {
    try {
      const record = JSON.parse(line.line) as Record<string, unknown>;
      if (typeof record.msg === "string") {
        const level = typeof record.level === "number" ? (LEVEL_NAMES[record.level] ?? String(record.level)) : String(record.level ?? "").toUpperCase();
        const job = typeof record.jobId === "string" ? ` (job ${record.jobId})` : "";
        return `${prefix} ${level ? level + " " : ""}${record.msg}${job}`;
      }
    } catch {
      // Not JSON after all: shown as written.
    }
  }
  return `${prefix} ${line.line}`;
}

export async function runServe(options: ServeOptions = {}): Promise<void> {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const stateDir = resolve(options.stateDir ?? ".ferry");
  const existing = readLocalServerRecord(stateDir);
  if (existing && existing.pid !== process.pid) {
    throw new Error(`a Ferry local server is already running at ${existing.url} (pid ${existing.pid}); stop it first, or use another state directory`);
  }
  const logger = options.logger ?? createLogger({});
  const server = await startLocalServer({
    port: options.port ?? DEFAULT_LOCAL_PORT,
    host: options.host ?? "127.0.0.1",
    apiKey: options.apiKey,
    stateDir,
    workerCommand: options.workerCommand,
    logger,
    onWorkerOutput: (line) => write(formatWorkerLine(line) + "\n"),
  });

  const record: LocalServerRecord = {
    url: server.url,
    endpointBaseUrl: server.endpointBaseUrl,
    graphqlUrl: server.graphqlUrl,
    pid: process.pid,
    port: server.port,
    host: options.host ?? "127.0.0.1",
    stateDir,
    authRequired: options.apiKey !== undefined,
    startedAt: new Date().toISOString(),
    version: LOCAL_SERVER_VERSION,
  };
  const recordFile = join(stateDir, LOCAL_RECORD_FILE);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(`${recordFile}.tmp`, JSON.stringify(record, null, 2) + "\n");
  renameSync(`${recordFile}.tmp`, recordFile);

  write(
    [
      `Ferry local RunPod listening on ${server.url}`,
      `  endpoint API  ${server.endpointBaseUrl}/<endpointId>/run | runsync | status/<id> | stream/<id> | ...`,
      `  GraphQL       ${server.graphqlUrl}`,
      `  dashboard     ${server.url}/ (open it in a browser${options.apiKey ? "; it asks for the key" : ""})`,
      `  state         ${stateDir} (recorded in ${recordFile}; queued jobs do not survive a restart)`,
      "Point RunPod clients at it:",
      `  export RUNPOD_API_BASE_URL=${server.url}`,
      `  export RUNPOD_ENDPOINT_BASE_URL=${server.endpointBaseUrl}`,
      options.apiKey ? "  export RUNPOD_API_KEY=<the key given to ferry serve>" : "  (no API key required; any RUNPOD_API_KEY value is accepted)",
      `  runpod-sdk: runpodSdk(key, { baseUrl: "${server.endpointBaseUrl}" })`,
      "Ctrl-C stops the workers and exits.",
      "",
    ].join("\n"),
  );
  options.onReady?.(server);

  const onSigint = () => stop("interrupted");
  const onSigterm = () => stop("terminated");
  let stopping = false;
  let resolveStop!: () => void;
  const stopped = new Promise<void>((resolvePromise) => (resolveStop = resolvePromise));
  function stop(why: string): void {
    if (stopping) {
      // A second Ctrl-C: do not wait for workers to finish their jobs.
      server.killWorkers();
      return;
    }
    stopping = true;
    write(`\n${why}: stopping workers (Ctrl-C again to kill them now)\n`);
    server.close().then(resolveStop, (err: unknown) => {
      logger.error({ err }, "error while stopping");
      resolveStop();
    });
  }
  if (options.handleSignals !== false) {
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigterm);
  }
  options.signal?.addEventListener("abort", () => stop("stop requested"), { once: true });
  if (options.signal?.aborted) stop("stop requested");
  try {
    await stopped;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
    if (readLocalServerRecordRaw(recordFile)?.pid === process.pid) rmSync(recordFile, { force: true });
  }
  write("stopped\n");
}

function readLocalServerRecordRaw(file: string): { pid?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as { pid?: unknown };
  } catch {
    return undefined;
  }
}
