/**
 * The workers the server has heard from: when each last called in, which jobs it must stop,
 * and whether it is being drained. A worker that holds jobs and has not called in for
 * `pingTimeoutMs` is declared lost and its jobs go back through `JobStore.releaseLostWorker`;
 * the process manager reports deaths of the processes it started the same way, at once.
 */
import type { JobStore, StopEvent } from "./job-store.ts";

export interface WorkerSession {
  podId: string;
  endpointId: string;
  /** Display name (e.g. "worker-3"); the pod id for workers the server did not start. */
  name: string;
  /** Started by this server (its process is managed) or a worker that connected on its own. */
  managed: boolean;
  startedAt: number;
  firstContactAt: number | undefined;
  lastContactAt: number | undefined;
  draining: boolean;
  lost: boolean;
  stopQueue: string[];
  stopWaiters: Set<(ids: string[]) => void>;
}

export type WorkerState = "initializing" | "idle" | "running" | "draining";

export interface WorkerSessionsOptions {
  store: JobStore;
  pingTimeoutMs: number;
  /**
   * Called when a worker is declared lost (its process, if managed, should be killed). `expected`
   * when the server itself stopped it (endpoint deleted, scaled down, server closing).
   */
  onLost?: (session: WorkerSession, reason: string, expected: boolean) => void;
  now?: () => number;
}

export class WorkerSessions {
  private readonly sessions = new Map<string, WorkerSession>();
  /**
   * Managed workers declared lost whose process is still being stopped (SIGTERM, then a grace
   * period): their calls are answered as a draining worker's, so they take no new jobs.
   */
  private readonly retired = new Map<string, WorkerSession>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly options: WorkerSessionsOptions) {
    this.now = options.now ?? Date.now;
    options.store.onStop((event) => this.queueStop(event));
    this.timer = setInterval(() => this.checkLiveness(), Math.max(50, Math.min(1000, options.pingTimeoutMs / 4)))
    this.timer.unref();
  }

  /** A worker this server started; it counts as initializing until it first calls in. */
  register(podId: string, endpointId: string, name: string): WorkerSession {
    const session = this.create(podId, endpointId, name, true);
    return session;
  }

  /** Records a call from a worker (any worker route), creating the session if new. */
  touch(podId: string, endpointId: string): WorkerSession {
    const retired = this.retired.get(podId);
    if (retired) return retired;
    let session = this.sessions.get(podId);
    if (!session || session.lost) session = this.create(podId, endpointId, podId, false);
    const now = this.now();
    session.firstContactAt ??= now;
    session.lastContactAt = now;
    this.options.store.noteWorker(podId);
    return session;
  }

  get(podId: string): WorkerSession | undefined {
    return this.sessions.get(podId);
  }

  list(endpointId?: string): WorkerSession[] {
    return [...this.sessions.values()].filter((s) => !s.lost && (endpointId === undefined || s.endpointId === endpointId));
  }

  state(session: WorkerSession): WorkerState {
    if (session.draining) return "draining";
    if (session.firstContactAt === undefined) return "initializing";
    return this.options.store.heldJobs(session.podId).size > 0 ? "running" : "idle";
  }

  /** Stops handing jobs to the worker: its waiting takes answer "no job" now and later. */
  drain(podId: string): void {
    const session = this.sessions.get(podId);
    if (!session || session.draining) return;
    session.draining = true;
    this.options.store.releaseTakers(podId);
    // A stopping worker should not sit in a held job-stop poll; later stops still queue up.
    for (const waiter of [...session.stopWaiters]) waiter([]);
  }

  /**
   * The worker is gone: its jobs are re-queued or failed, and it is forgotten. A managed worker
   * whose process may still run (`processGone` false) stays retired until its process is gone.
   */
  lost(podId: string, reason: string, how: { processGone?: boolean; expected?: boolean } = {}): void {
    if (how.processGone) {
      const retired = this.retired.get(podId);
      this.retired.delete(podId);
      if (retired) resolveStopWaiters(retired);
    }
    const session = this.sessions.get(podId);
    if (!session || session.lost) return;
    session.lost = true;
    this.sessions.delete(podId);
    this.options.store.releaseLostWorker(podId, reason, session.name);
    this.options.store.forgetWorker(podId);
    resolveStopWaiters(session);
    if (session.managed && !how.processGone) {
      session.draining = true;
      this.retired.set(podId, session);
    }
    this.options.onLost?.(session, reason, how.expected ?? false);
  }

  /**
   * Job ids the worker must stop, waiting up to `waitMs` for the first one (the job-stop
   * long poll). An empty list means nothing to stop.
   */
  takeStops(podId: string, waitMs: number, signal?: AbortSignal): Promise<string[]> {
    const session = this.sessions.get(podId) ?? this.retired.get(podId);
    if (!session) return Promise.resolve([]);
    if (session.stopQueue.length > 0 || waitMs <= 0) return Promise.resolve(session.stopQueue.splice(0));
    return new Promise((resolve) => {
      const finish = (ids: string[]) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", abandon);
        session.stopWaiters.delete(finish);
        resolve(ids);
      };
      const abandon = () => finish([]);
      const timer = setTimeout(abandon, waitMs);
      timer.unref();
      signal?.addEventListener("abort", abandon, { once: true });
      session.stopWaiters.add(finish);
    });
  }

  close(): void {
    clearInterval(this.timer);
    for (const session of [...this.sessions.values(), ...this.retired.values()]) resolveStopWaiters(session);
  }

  private create(podId: string, endpointId: string, name: string, managed: boolean): WorkerSession {
    const session: WorkerSession = {
      podId,
      endpointId,
      name,
      managed,
      startedAt: this.now(),
      firstContactAt: undefined,
      lastContactAt: undefined,
      draining: false,
      lost: false,
      stopQueue: [],
      stopWaiters: new Set(),
    };
    this.sessions.set(podId, session);
    return session;
  }

  private queueStop(event: StopEvent): void {
    const session = this.sessions.get(event.workerId);
    if (!session) return;
    const waiter = session.stopWaiters.values().next().value;
    if (waiter) waiter([event.jobId]);
    else session.stopQueue.push(event.jobId);
  }

  private checkLiveness(): void {
    const now = this.now();
    for (const session of [...this.sessions.values()]) {
      const held = this.options.store.heldJobs(session.podId).size;
      const last = session.lastContactAt ?? session.startedAt;
      if (now - last < this.options.pingTimeoutMs) continue;
      if (held > 0) {
        this.lost(session.podId, `stopped pinging (no call for ${Math.round((now - last) / 1000)} s)`);
      } else if (!session.managed && session.stopWaiters.size === 0) {
        // A worker that connected on its own and went quiet with nothing in hand: forget it.
        this.sessions.delete(session.podId);
        this.options.store.forgetWorker(session.podId);
      }
    }
  }
}

function resolveStopWaiters(session: WorkerSession): void {
  for (const waiter of [...session.stopWaiters]) waiter([]);
  session.stopWaiters.clear();
}
