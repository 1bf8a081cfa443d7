/**
 * Compares each worker ping's job list (`job_id=a,b`) with the jobs the server handed to that
 * worker. A job the worker no longer reports (it dropped it: its result could not be posted,
 * its runner failed, it restarted under the same id) is failed with that reason, instead of
 * staying IN_PROGRESS until its execution timeout.
 *
 * A job handed out just before a ping can be missing from it (the ping left before the job
 * arrived), and a worker parsing a large job may not list it yet: a job is failed only once it
 * has been missing from `misses` pings in a row over at least `graceMs`.
 */
import { ErrorType } from "../../protocol/error-types.ts";
import type { Logger } from "../../protocol/logger.ts";
import type { JobStore } from "./job-store.ts";

export interface PingReconcilerOptions {
  store: JobStore;
  logger: Logger;
  /** Consecutive pings a held job must be missing from (default 3). */
  misses?: number;
  /** And for at least this long since it was first missed (default 10 s). */
  graceMs?: number;
  now?: () => number;
}

interface Miss {
  count: number;
  since: number;
}

export class PingReconciler {
  /** Per worker, per held job: how often and since when its pings have left it out. */
  private readonly missing = new Map<string, Map<string, Miss>>();
  private readonly now: () => number;

  constructor(private readonly options: PingReconcilerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Handles one ping; returns the ids of the jobs it failed. */
  onPing(endpointId: string, podId: string, reported: readonly string[]): string[] {
    const { store } = this.options;
    const held = store.heldJobs(podId);
    const listed = new Set(reported);
    const previous = this.missing.get(podId) ?? new Map<string, Miss>();
    const next = new Map<string, Miss>();
    const failed: string[] = [];
    const now = this.now();
    for (const jobId of held) {
      if (listed.has(jobId)) continue;
      const miss = previous.get(jobId) ?? { count: 0, since: now };
      miss.count++;
      if (miss.count >= (this.options.misses ?? 3) && now - miss.since >= (this.options.graceMs ?? 10_000)) {
        const error = JSON.stringify({
          error_type: ErrorType.WorkerProcessDied,
          error_message: `worker ${podId} no longer reports this job in its pings (missing from ${miss.count} pings over ${Math.round((now - miss.since) / 1000)} s): it dropped the job without posting a result`,
          error_traceback: "",
          hostname: "local",
          worker_id: podId,
        });
        if (store.report(endpointId, jobId, podId, { kind: "final", hasOutput: false, error }) === "ok") failed.push(jobId);
        continue;
      }
      next.set(jobId, miss);
    }
    if (next.size > 0) this.missing.set(podId, next);
    else this.missing.delete(podId);
    if (failed.length > 0) this.options.logger.warn({ podId, jobs: failed }, "jobs a worker stopped reporting in its pings were failed");
    return failed;
  }
}
