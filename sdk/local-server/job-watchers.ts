/**
 * Waits on one job's state (`/status` long polls, `runsync`, `/stream`): each watcher is
 * answered once its predicate holds at a change of the job, at its deadline or abort with the
 * job's state then, or with undefined once the job is gone.
 */
import type { Job } from "./job.ts";

interface Watcher {
  predicate: (job: Job | undefined) => boolean;
  resolve: (job: Job | undefined) => void;
}

export class JobWatchers {
  private readonly byJob = new Map<string, Set<Watcher>>();

  /** `current` reads the job's state when the wait ends without the predicate holding. */
  wait(jobId: string, predicate: (job: Job) => boolean, waitMs: number, current: () => Job | undefined, signal?: AbortSignal): Promise<Job | undefined> {
    return new Promise((resolve) => {
      let set = this.byJob.get(jobId);
      if (!set) this.byJob.set(jobId, (set = new Set()));
      const watchers = set;
      const finish = (value: Job | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        watchers.delete(watcher);
        if (watchers.size === 0 && this.byJob.get(jobId) === watchers) this.byJob.delete(jobId);
        resolve(value);
      };
      const watcher: Watcher = {
        predicate: (job) => job === undefined || predicate(job),
        resolve: finish,
      };
      const onAbort = () => finish(current());
      const timer = setTimeout(onAbort, waitMs);
      timer.unref();
      signal?.addEventListener("abort", onAbort, { once: true });
      watchers.add(watcher);
    });
  }

  /** The job changed: answers the watchers whose predicate now holds. */
  changed(job: Job): void {
    const set = this.byJob.get(job.id);
    if (!set) return;
    for (const watcher of [...set]) if (watcher.predicate(job)) watcher.resolve(job);
  }

  /** The job is gone: answers all its watchers with undefined. */
  gone(jobId: string): void {
    const set = this.byJob.get(jobId);
    if (set) for (const watcher of [...set]) watcher.resolve(undefined);
  }

  /** Answers every watcher with its job's state as `lookup` reads it. */
  endAll(lookup: (jobId: string) => Job | undefined): void {
    for (const [id, set] of [...this.byJob]) {
      for (const watcher of [...set]) watcher.resolve(lookup(id));
    }
  }
}
