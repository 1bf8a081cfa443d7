/**
 * The phases of one call as `onProgress` receives them. The endpoint API shows the queue
 * (queued, waiting for a worker); the worker reports what only it sees (started, installing,
 * downloading, running) as stream items; the SDK adds streaming and the end (done).
 */
import type { WorkerProgress } from "../../protocol/progress.ts";
import type { CallTimings } from "../call.ts";

export interface ProgressBase {
  /** Set once the endpoint took the job. */
  jobId: string | undefined;
  /** `embed`, `Model.generate`: the call's name. */
  label: string;
  /** Since the call began, measured here. */
  elapsedMs: number;
}

/** Where a call is: one variant per phase (queued, waiting for a worker, started, installing, downloading, running, streaming, done), with what that phase knows. */
export type ProgressPhase =
  /** In the endpoint's queue; `jobsInQueue` is the endpoint's whole queue when known. */
  | { phase: "queued"; jobsInQueue?: number | undefined }
  /** Queued with no worker free: `workersStarting` are on their way (a cold start). */
  | { phase: "waiting-for-worker"; workersStarting: number }
  /** A worker took the job. */
  | { phase: "started"; workerId: string }
  /** One package set: a readable line of the installer's progress, or `done` when installed. */
  | { phase: "installing"; tool: "pip" | "apt"; packages: string[]; line?: string | undefined; done?: boolean | undefined }
  /** One model repo's bytes so far (`bytesTotal` null when the hub did not say). */
  | { phase: "downloading"; repo: string; bytesDone: number; bytesTotal: number | null }
  /** The Python call began. */
  | { phase: "running" }
  /** A generator's values are arriving; `values` so far. */
  | { phase: "streaming"; values: number }
  /** The end: how it ended, with the timings when it completed. */
  | { phase: "done"; outcome: "completed" | "failed" | "cancelled" | "timed-out"; timings?: CallTimings | undefined; error?: string | undefined };

/** One progress report of a call: its phase, and the job and time it concerns. */
export type ProgressEvent = ProgressBase & ProgressPhase;
/** Receives a call's progress events (`onProgress` in call options). */
export type ProgressHandler = (event: ProgressEvent) => void;

/** A worker's `progress` stream item (checked by `WorkerProgressSchema` where it enters) as an SDK phase. */
export function phaseFromWorker(p: WorkerProgress): ProgressPhase {
  switch (p.phase) {
    case "started":
      return { phase: "started", workerId: p.worker_id };
    case "installing":
      return { phase: "installing", tool: p.tool, packages: p.packages, line: p.line, done: p.done };
    case "downloading":
      return { phase: "downloading", repo: p.repo, bytesDone: p.bytes_done, bytesTotal: p.bytes_total };
    case "running":
      return { phase: "running" };
  }
}
