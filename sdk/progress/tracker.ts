/**
 * One call's progress: stamps each phase with the call's label, job id and elapsed time, and
 * while the job waits in the queue asks the endpoint's `/health` (at most once a second)
 * whether a worker is free or starting, which the job status alone does not tell.
 */
import type { CallTimings } from "../call.ts";
import { CancelledError, RemoteTimeoutError } from "../errors.ts";
import type { EndpointClient } from "../transport.ts";
import { WorkerProgressSchema } from "../../protocol/progress.ts";
import { phaseFromWorker, type ProgressHandler, type ProgressPhase } from "./events.ts";

/** How often `/health` is asked while a job is queued. */
const QUEUE_POLL_MS = 1000;

export class CallProgress {
  jobId: string | undefined;
  private started = false;
  private finished = false;
  private values = 0;
  private lastQueueText = "";
  private queueTimer: NodeJS.Timeout | undefined;
  private takenBy: string | undefined;

  constructor(
    private readonly handler: ProgressHandler | undefined,
    private readonly label: string,
    private readonly startedAt: number,
  ) {}

  get enabled(): boolean {
    return this.handler !== undefined;
  }

  /** The worker that took the job, once it said so. */
  get workerId(): string | undefined {
    return this.takenBy;
  }

  private emit(phase: ProgressPhase): void {
    if (!this.handler || this.finished) return;
    try {
      this.handler({ ...phase, jobId: this.jobId, label: this.label, elapsedMs: Math.round(performance.now() - this.startedAt) });
    } catch (error) {
      // A failing progress handler must not fail the call it watches.
      process.emitWarning(`onProgress threw: ${error instanceof Error ? error.message : String(error)}`, "FerryProgressWarning");
    }
  }

  /** A job status seen from the endpoint API. */
  status(status: string, client: EndpointClient): void {
    if (status === "IN_QUEUE" && !this.started) {
      if (!this.lastQueueText) {
        this.lastQueueText = "queued";
        this.emit({ phase: "queued" });
      }
      if (this.handler && !this.queueTimer) this.watchQueue(client);
    } else if (status !== "IN_QUEUE") this.stopWatching();
  }

  /** A `progress` stream item from the worker. */
  fromWorker(item: unknown): void {
    const parsed = WorkerProgressSchema.safeParse(item);
    if (!parsed.success) return;
    // A job with nothing to prepare says it started and runs in one item.
    if (parsed.data.phase === "running" && parsed.data.worker_id && !this.started) this.fromWorker({ phase: "started", worker_id: parsed.data.worker_id });
    const phase = phaseFromWorker(parsed.data);
    if (phase.phase === "started") {
      this.started = true;
      this.takenBy = phase.workerId;
      this.stopWatching();
    }
    this.emit(phase);
  }

  value(): void {
    this.values++;
    this.emit({ phase: "streaming", values: this.values });
  }

  completed(timings: CallTimings): void {
    this.emit({ phase: "done", outcome: "completed", timings });
    this.finish();
  }

  failed(error: unknown): void {
    const outcome = error instanceof CancelledError ? "cancelled" : error instanceof RemoteTimeoutError ? "timed-out" : "failed";
    this.emit({ phase: "done", outcome, error: error instanceof Error ? error.message.split("\n")[0] : String(error) });
    this.finish();
  }

  finish(): void {
    this.stopWatching();
    this.finished = true;
  }

  private watchQueue(client: EndpointClient): void {
    const ask = () => {
      this.queueTimer = setTimeout(ask, QUEUE_POLL_MS);
      this.queueTimer.unref();
      client.health().then(
        (health) => {
          if (this.started || this.finished || !this.queueTimer) return;
          const phase: ProgressPhase =
            health.workers.idle === 0 && health.workers.initializing > 0
              ? { phase: "waiting-for-worker", workersStarting: health.workers.initializing }
              : { phase: "queued", jobsInQueue: health.jobs.inQueue };
          const text = JSON.stringify(phase);
          if (text === this.lastQueueText) return;
          this.lastQueueText = text;
          this.emit(phase);
        },
        () => undefined,
      );
    };
    ask();
  }

  private stopWatching(): void {
    if (this.queueTimer) clearTimeout(this.queueTimer);
    this.queueTimer = undefined;
  }
}
