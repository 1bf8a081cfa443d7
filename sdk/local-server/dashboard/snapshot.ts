/**
 * What the dashboard shows, as JSON built from the server's own state: endpoints with their
 * settings and counts, workers (state, current job, memory, Python, uptime), the queue, recent
 * jobs with where their time went, and one job's live log, progress and result.
 */
import type { EndpointConfig } from "../endpoint-registry.ts";
import type { Job, JobCounts, JobStore } from "../job-store.ts";
import type { WorkerInfo } from "../workers.ts";
import { treeMemoryMiB } from "./process-memory.ts";

/** Recent jobs listed. */
const RECENT_JOBS = 50;
/** Log lines of one job sent to the page (the newest). */
const MAX_LOG_LINES = 2000;

export interface SnapshotSources {
  store: JobStore;
  endpoints: () => EndpointConfig[];
  counts: (endpointId: string) => JobCounts;
  workers: () => WorkerInfo[];
  now?: () => number;
}

export interface JobTimingView {
  queueMs: number | null;
  installMs: number | null;
  modelDownloadMs: number | null;
  executeMs: number | null;
  totalMs: number | null;
}

export interface JobSummary {
  id: string;
  endpointId: string;
  call: string;
  status: Job["status"];
  workerId: string | null;
  createdAt: number;
  timings: JobTimingView;
}

type Output = {
  success?: boolean;
  error?: string | null;
  error_type?: string | null;
  error_traceback?: string | null;
  json_result?: unknown;
  result?: string | null;
  timings?: { queue_ms?: number; install_ms?: number; model_download_ms?: number; execute_ms?: number; total_ms?: number };
  details?: { worker?: { python?: unknown } };
};

const record = (value: unknown): Record<string, unknown> | undefined =>
  value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

function outputOf(job: Job): Output | undefined {
  return job.hasOutput ? (record(job.output) as Output | undefined) : undefined;
}

/** `embed`, `Model.generate`: what the job calls, from its input. */
function callName(job: Job): string {
  const input = record(job.input);
  if (!input) return "?";
  const fn = str(input.function_name);
  if (fn) return fn;
  const cls = str(input.class_name);
  return cls ? `${cls}.${str(input.method_name) ?? "__call__"}` : "?";
}

function timingsOf(job: Job, now: number): JobTimingView {
  const t = outputOf(job)?.timings;
  const queueMs = (job.startedAt ?? job.finishedAt ?? now) - job.createdAt;
  return {
    queueMs,
    installMs: t?.install_ms ?? null,
    modelDownloadMs: t?.model_download_ms ?? null,
    executeMs: t?.execute_ms ?? (job.startedAt !== undefined && job.finishedAt === undefined ? now - job.startedAt : null),
    totalMs: job.startedAt !== undefined ? (job.finishedAt ?? now) - job.startedAt : null,
  };
}

function summary(job: Job, now: number): JobSummary {
  return { id: job.id, endpointId: job.endpointId, call: callName(job), status: job.status, workerId: job.workerId ?? null, createdAt: job.createdAt, timings: timingsOf(job, now) };
}

function describePython(python: unknown): string | null {
  const info = record(python);
  if (!info) return str(python) ?? null;
  // The worker reports its child as {python: "3.11.2 ...", executable}.
  const version = str(info.python) ?? str(info.version);
  return version ? version.split(" ")[0]! : null;
}

export function dashboardState(sources: SnapshotSources) {
  const now = sources.now?.() ?? Date.now();
  const jobs = sources.store.recent(RECENT_JOBS * 4);
  const pythonOf = new Map<string, string>();
  for (const job of [...jobs].reverse()) {
    const python = describePython(outputOf(job)?.details?.worker?.python);
    if (job.workerId && python) pythonOf.set(job.workerId, python);
  }
  const current = new Map<string, string>();
  for (const job of jobs) if (job.status === "IN_PROGRESS" && job.workerId) current.set(job.workerId, job.id);
  return {
    now,
    endpoints: sources.endpoints().map((e) => ({
      id: e.id,
      name: e.name,
      workersMin: e.workersMin,
      workersMax: e.workersMax,
      idleTimeoutS: e.idleTimeout,
      executionTimeoutMs: e.executionTimeoutMs,
      gpuIds: e.gpuIds,
      gpuCount: e.gpuCount,
      counts: sources.counts(e.id),
    })),
    workers: sources
      .workers()
      .filter((w) => w.state !== "exited")
      .map((w) => ({
        id: w.podId,
        name: w.name,
        endpointId: w.endpointId,
        state: w.state,
        pid: w.pid ?? null,
        uptimeMs: now - w.startedAt,
        currentJob: current.get(w.podId) ?? current.get(w.name) ?? null,
        memoryMiB: treeMemoryMiB(w.pid),
        python: pythonOf.get(w.podId) ?? pythonOf.get(w.name) ?? null,
      })),
    queue: jobs.filter((j) => j.status === "IN_QUEUE").map((j) => ({ id: j.id, endpointId: j.endpointId, call: callName(j), waitedMs: now - j.createdAt })),
    jobs: jobs.slice(0, RECENT_JOBS).map((j) => summary(j, now)),
  };
}

export type DashboardState = ReturnType<typeof dashboardState>;

/** One job in full: its live log lines, the progress it reported, and its result or error. */
export function jobDetail(job: Job, now = Date.now()) {
  const logs: { stream: string; line: string }[] = [];
  const progress: Record<string, unknown>[] = [];
  for (const chunk of job.stream) {
    for (const item of Array.isArray(chunk) ? chunk : [chunk]) {
      const entry = record(item);
      const log = record(entry?.log);
      if (log && typeof log.line === "string") for (const line of log.line.split("\n")) logs.push({ stream: str(log.stream) ?? "stdout", line });
      const step = record(entry?.progress);
      if (step) progress.push(step);
    }
  }
  const output = outputOf(job);
  return {
    ...summary(job, now),
    logs: logs.slice(-MAX_LOG_LINES),
    logsCut: Math.max(0, logs.length - MAX_LOG_LINES),
    progress: progress.filter((p) => p.phase !== "downloading").concat(progress.filter((p) => p.phase === "downloading").slice(-1)),
    outcome: output
      ? {
          success: output.success ?? null,
          errorType: output.error_type ?? null,
          error: output.error ?? job.error ?? null,
          traceback: output.error_traceback ?? null,
          value: output.json_result !== undefined ? JSON.stringify(output.json_result).slice(0, 2000) : output.result ? `${output.result.length} base64 characters (MessagePack)` : null,
        }
      : job.error !== undefined
        ? { success: false, errorType: null, error: job.error, traceback: null, value: null }
        : null,
  };
}
