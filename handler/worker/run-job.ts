/**
 * Runs one job through the handler, whichever kind it is: an async function (its value is the
 * output) or an async generator (yielded values go to `onYield` in order; the return value,
 * when not undefined, is the final output, else the aggregate of yielded values or `[]`).
 */
import type { JobContext, JobContextBase, JobHandler, RunpodJob } from "./types.ts";

export type JobOutcome =
  | { kind: "returned"; output: unknown; isStream: boolean }
  | { kind: "threw"; error: unknown; isStream: boolean };

export interface ExecuteOptions {
  /** Generator jobs that return nothing: the final output is every yielded value instead of `[]`. */
  aggregate: boolean;
  onYield?: (value: unknown) => Promise<void> | void;
  /** A progress update of the handler (JobContext.progress); errors are the caller's to log. */
  onProgress?: (output: unknown) => Promise<void> | void;
}

function isAsyncGenerator(value: unknown): value is AsyncGenerator<unknown, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as AsyncGenerator).next === "function" &&
    typeof (value as AsyncGenerator)[Symbol.asyncIterator] === "function"
  );
}

export async function executeJob(handler: JobHandler, job: RunpodJob, base: JobContextBase, options: ExecuteOptions): Promise<JobOutcome> {
  let streamResult: boolean | undefined;
  const ctx: JobContext = {
    ...base,
    progress: async (output) => {
      try {
        await options.onProgress?.(output);
      } catch (error) {
        base.logger.warn({ err: error }, "a progress update could not be posted");
      }
    },
    setStreamResult: (isStream) => {
      streamResult = isStream;
    },
  };
  let produced: Promise<unknown> | AsyncGenerator<unknown, unknown>;
  try {
    produced = handler(job, ctx);
  } catch (error) {
    return { kind: "threw", error, isStream: streamResult ?? false };
  }
  if (!isAsyncGenerator(produced)) {
    try {
      return { kind: "returned", output: await produced, isStream: streamResult ?? false };
    } catch (error) {
      return { kind: "threw", error, isStream: streamResult ?? false };
    }
  }
  const outcome = await drainGenerator(produced, ctx, options);
  return { ...outcome, isStream: streamResult ?? true };
}

async function drainGenerator(generator: AsyncGenerator<unknown, unknown>, ctx: JobContext, options: ExecuteOptions): Promise<JobOutcome> {
  const yielded: unknown[] = [];
  try {
    for (;;) {
      const step = await generator.next();
      if (step.done) {
        const output = step.value !== undefined ? step.value : options.aggregate ? yielded : [];
        return { kind: "returned", output, isStream: true };
      }
      if (ctx.signal.aborted) {
        // The job is over for the caller; let the generator run its finally blocks.
        await generator.return(undefined).catch(() => undefined);
        return { kind: "threw", error: ctx.signal.reason, isStream: true };
      }
      if (options.aggregate) yielded.push(step.value);
      try {
        await options.onYield?.(step.value);
      } catch (error) {
        // The value could not be passed on: the job fails, and the generator is closed so the
        // handler stops producing (its finally blocks run).
        await generator.return(undefined).catch(() => undefined);
        return { kind: "threw", error, isStream: true };
      }
    }
  } catch (error) {
    return { kind: "threw", error, isStream: true };
  }
}

/**
 * The reason a job's signal carries: cancelled, past its execution timeout, or the worker
 * shutting down hard. Handlers (and the Python engine) tell them apart by `name`.
 */
export function abortReason(name: "Cancelled" | "Timeout" | "WorkerShutdown", message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
