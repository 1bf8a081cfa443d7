/**
 * Which worker holds which jobs (handed out by a take, not yet final), and since when each known
 * worker has held none: the scaler stops workers idle past their endpoint's `idleTimeout`.
 */
import { ErrorType } from "../../protocol/error-types.ts";

const NONE: ReadonlySet<string> = new Set();

export class WorkerHolds {
  private readonly heldBy = new Map<string, Set<string>>();
  private readonly idleFrom = new Map<string, number>();

  /** Job ids the worker holds now. */
  held(workerId: string): ReadonlySet<string> {
    return this.heldBy.get(workerId) ?? NONE;
  }

  /** When the worker last became free of jobs (undefined while it holds any, or when unknown). */
  idleSince(workerId: string): number | undefined {
    return this.heldBy.get(workerId)?.size ? undefined : this.idleFrom.get(workerId);
  }

  /** Marks a worker known and idle from `now` (its first contact). */
  note(workerId: string, now: number): void {
    if (!this.idleFrom.has(workerId)) this.idleFrom.set(workerId, now);
  }

  /** Forgets a worker that holds nothing. */
  forget(workerId: string): void {
    if (!this.heldBy.get(workerId)?.size) this.drop(workerId);
  }

  /** Forgets the worker and what it held. */
  drop(workerId: string): void {
    this.heldBy.delete(workerId);
    this.idleFrom.delete(workerId);
  }

  hold(workerId: string, jobId: string): void {
    let held = this.heldBy.get(workerId);
    if (!held) this.heldBy.set(workerId, (held = new Set()));
    held.add(jobId);
  }

  /** The worker no longer holds the job; holding nothing, it is idle from `now`. */
  release(workerId: string, jobId: string, now: number): void {
    const held = this.heldBy.get(workerId);
    if (!held) return;
    held.delete(jobId);
    if (held.size === 0) this.idleFrom.set(workerId, now);
  }
}

/** The job-error JSON of a job whose worker was lost once more than it may be re-queued. */
export function lostWorkerError(workerId: string, workerName: string, reason: string, requeued: number): string {
  return JSON.stringify({
    error_type: ErrorType.WorkerProcessDied,
    error_message: `worker ${workerName} ${reason} while running this job, after it had been re-queued ${requeued} time(s)`,
    error_traceback: "",
    hostname: "local",
    worker_id: workerId,
  });
}
