/**
 * What the worker does after each call, given the CUDA errors it has seen.
 *
 * A fatal CUDA error poisons the child's context: the child is restarted. When the next call
 * in the new child fails fatally again, the fault is in the GPU or the machine rather than in
 * one process, and only a different worker helps: the worker asks RunPod to replace it
 * (`refresh_worker` in the job's output). That request is sticky: once made, every later
 * decision repeats it, so a job finishing after the decision cannot cancel it.
 *
 * An out-of-memory error says nothing bad about the GPU (the context still works), and so
 * does any call that completes without a fatal CUDA error: both end a run of fatal errors.
 */
import type { Logger } from "../../protocol/logger.ts";
import { classifyCudaError, type CudaErrorKind } from "./cuda-errors.ts";

export type CudaFaultAction =
  /** Nothing to do. */
  | "none"
  /** The allocator's cached blocks should be released (`torch.cuda.empty_cache()`); the child stays. */
  | "clear_cuda_cache"
  /** Stop the child and start a new one before the next call. */
  | "restart_child"
  /** Stop the child and ask RunPod to replace this worker (`refresh_worker: true`). */
  | "refresh_worker";

export interface CudaFaultDecision {
  action: CudaFaultAction;
  /** Why, for the log and the job's details; null when the action is "none". */
  reason: string | null;
  /** Fatal CUDA errors in a row, this one included. */
  consecutiveFatal: number;
}

export interface CudaFaultTrackerOptions {
  /** Fatal errors in a row (each followed by a child restart) that make the worker ask to be replaced. Default 2. */
  maxConsecutiveFatal?: number;
  /** Restarts and refresh requests are logged here with their reason. */
  logger?: Logger;
}

/** The first line that names the error, kept short enough for a log line. */
function summary(detail: string | undefined): string {
  if (!detail) return "no message";
  const lines = detail.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const telling = lines.find((l) => classifyCudaError(l) !== null) ?? lines[lines.length - 1] ?? "no message";
  return telling.length > 300 ? `${telling.slice(0, 297)}...` : telling;
}

export class CudaFaultTracker {
  readonly maxConsecutiveFatal: number;
  #consecutiveFatal = 0;
  #refreshReason: string | null = null;
  readonly #logger: Logger | undefined;

  constructor(options: CudaFaultTrackerOptions = {}) {
    const limit = options.maxConsecutiveFatal ?? 2;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`maxConsecutiveFatal must be a positive integer, got ${limit}`);
    this.maxConsecutiveFatal = limit;
    this.#logger = options.logger;
  }

  /** Fatal CUDA errors in a row so far. */
  get consecutiveFatal(): number {
    return this.#consecutiveFatal;
  }

  /** Set once the worker has decided to ask for its replacement: the reason it gave. */
  get refreshReason(): string | null {
    return this.#refreshReason;
  }

  /**
   * Records the end of one call. `errorText` is the call's error message and traceback (or the
   * dead child's stderr); null or empty for a call that succeeded.
   */
  recordCall(errorText: string | null | undefined): CudaFaultDecision {
    return this.record(classifyCudaError(errorText), errorText ?? undefined);
  }

  /** Records a call whose error the caller has already classified (null: no CUDA error). */
  record(kind: CudaErrorKind | null, detail?: string): CudaFaultDecision {
    if (kind === "fatal") return this.#fatal(detail);
    this.#consecutiveFatal = 0;
    if (this.#refreshReason !== null) return this.#refresh();
    if (kind === "oom") return { action: "clear_cuda_cache", reason: `CUDA out of memory: ${summary(detail)}`, consecutiveFatal: 0 };
    return { action: "none", reason: null, consecutiveFatal: 0 };
  }

  #fatal(detail: string | undefined): CudaFaultDecision {
    this.#consecutiveFatal += 1;
    const n = this.#consecutiveFatal;
    if (this.#refreshReason !== null) return this.#refresh();
    if (n >= this.maxConsecutiveFatal) {
      this.#refreshReason =
        `fatal CUDA error persisted after a child restart (${n} in a row): ${summary(detail)}; ` +
        "asking RunPod to replace this worker";
      this.#logger?.error({ consecutiveFatal: n, action: "refresh_worker" }, this.#refreshReason);
      return this.#refresh();
    }
    const reason = `fatal CUDA error, the CUDA context cannot be used again: ${summary(detail)}; restarting the Python child`;
    this.#logger?.warn({ consecutiveFatal: n, action: "restart_child" }, reason);
    return { action: "restart_child", reason, consecutiveFatal: n };
  }

  #refresh(): CudaFaultDecision {
    return { action: "refresh_worker", reason: this.#refreshReason, consecutiveFatal: this.#consecutiveFatal };
  }
}
