/**
 * Ferry's job handler: one FunctionRequest in, one FunctionResponse out.
 *
 * validate -> prepare (dependencies and models, in parallel) -> execute (the Python engine)
 * -> respond. It is an async generator for the worker runtime: progress events, live log lines
 * and generator values are yielded as stream items while the call runs, and the FunctionResponse is its
 * return value. Only a call of a Python generator closes its job as a stream (`isStream=true`);
 * any other call's result is posted as a plain result, as runpod-python posts it. A failed call
 * keeps its message in `error`, which the runtime lifts to the job's
 * top level so the job reads FAILED. A bad job never makes it throw: every failure of the job
 * becomes a response with `success: false` and an `error_type`.
 */
import { ErrorType } from "../protocol/error-types.ts";
import type { Logger } from "../protocol/logger.ts";
import { AsyncQueue } from "./async-queue.ts";
import { BlobTransfers } from "./blobs/blob-transfers.ts";
import { ArgumentBlobError, bytesToBase64, OutputPlaces, resolveArgumentBlobs, type ResolvedArguments } from "./blobs/job-values.ts";
import { countTransfer } from "./engine/memory-release.ts";
import { ValueFile } from "./engine/value-file.ts";
import type { BlobOutputRef } from "../protocol/blob-ref.ts";
import { STREAM_CHUNK_LIMIT_BYTES } from "../protocol/runpod-jobs.ts";
import type { CallOutcome, EngineJob, PythonEngine } from "./engine/python-engine.ts";
import { checkModulePaths } from "./module-paths.ts";
import { redactDeep } from "../protocol/redaction.ts";
import type { WorkerProgress } from "../protocol/progress.ts";
import { clipErrors } from "./error-text-limit.ts";
import { clipLiveLine } from "./live-line-limit.ts";
import { parseFunctionRequest, type FunctionRequest, type FunctionResponse, type StreamItem, type Timings } from "../protocol/wire.ts";
import type { JobHandler } from "./worker/types.ts";

export interface PrepareContext {
  logger: Logger;
  signal: AbortSignal;
  /** A progress line for the caller's live log. */
  onLog: (line: string) => void;
  /** A progress event for the caller (installing, downloading). */
  onProgress: (event: WorkerProgress) => void;
}

/** Which files of each model to cache (fnmatch patterns; empty lists mean every file). */
export interface ModelFileFilter {
  include: string[];
  exclude: string[];
}

export type DependencyRequest = Pick<FunctionRequest, "dependencies" | "system_dependencies" | "accelerate_downloads">;

/** What the handler does after a call whose error text may be a CUDA fault. */
export interface CudaFaultDecision {
  restartChild: boolean;
  /** Set when the worker should be replaced (`refresh_worker`); the reason is logged. */
  refreshWorkerReason?: string;
}

export interface FerryHandlerOptions {
  engine: PythonEngine;
  /** Worker-level facts every response carries in `details.worker` (GPUs, Python); the worker id comes from the runtime. */
  workerDetails: () => Record<string, unknown>;
  installDependencies?: (request: DependencyRequest, ctx: PrepareContext) => Promise<unknown>;
  cacheModels?: (models: string[], ctx: PrepareContext, files: ModelFileFilter) => Promise<unknown>;
  /** Consulted after every call; decides on restarts after fatal CUDA errors. */
  onCallOutcome?: (outcome: CallOutcome) => CudaFaultDecision;
  /** GPU memory in use after a call (only asked for when the worker has GPUs). */
  gpuMemory?: () => Promise<unknown>;
  /** Applies when the request names no `timeout_ms`. */
  defaultTimeoutMs?: number;
  /** How blobs are read and written (default: over HTTP only). */
  blobs?: BlobTransfers;
}

type HandlerResult = FunctionResponse & { refresh_worker?: boolean };

/**
 * The category and text of a failed install or download. A spec the worker refused (a bad
 * requirement, apt name or model id) is a bad request; a tool that failed is an install or
 * download error, described with the tail of the tool's own output.
 */
function describePreparationError(reason: unknown): { errorType: string; message: string } {
  const error = reason as Error & { errorType?: unknown; reason?: unknown; describe?: () => string };
  const message = typeof error?.describe === "function" ? error.describe() : (error?.message ?? String(reason));
  if (typeof error?.errorType === "string") return { errorType: error.errorType, message };
  if (error?.name === "ModelDownloadError") {
    const refused = error.reason === "invalid-model-id" || error.reason === "invalid-options";
    return { errorType: refused ? ErrorType.InvalidRequest : ErrorType.ModelDownloadError, message };
  }
  if (error?.name === "DependencyInstallError") return { errorType: ErrorType.DependencyInstallError, message };
  return { errorType: ErrorType.PreparationError, message };
}

export function createFerryHandler(options: FerryHandlerOptions): JobHandler {
  const blobs = options.blobs ?? new BlobTransfers();
  return async function* ferryHandler(job, ctx): AsyncGenerator<StreamItem, HandlerResult> {
    ctx.setStreamResult(false);
    const started = performance.now();
    const timings: Timings = {};
    const since = (t: number) => Math.round((performance.now() - t) * 100) / 100;
    const respond = (response: FunctionResponse, extra: Record<string, unknown> = {}): HandlerResult => {
      timings.total_ms = since(started);
      const details = { ...(response.details ?? {}), ...extra, worker: { ...options.workerDetails(), worker_id: ctx.workerId } };
      // An encoded result is the user's bytes as base64 (or a blob reference): text a secret
      // cannot be found in, and that replacing characters would corrupt. It is not rescanned.
      const { result, ...rest } = response;
      // Redacted first, then clipped: no limit cuts a secret before it is recognised.
      const redacted = clipErrors(redactDeep({ ...rest, timings, details }));
      return result === undefined ? redacted : { ...redacted, result };
    };

    const parsed = parseFunctionRequest(job.input);
    if (!parsed.ok) return respond({ success: false, error_type: ErrorType.InvalidRequest, error: parsed.error, stdout: "" });
    const request = parsed.request;
    const modulesProblem = checkModulePaths(request.modules);
    if (modulesProblem) return respond({ success: false, error_type: ErrorType.InvalidRequest, error: `Invalid job input: ${modulesProblem}`, stdout: "" });
    timings.validate_ms = since(started);

    const queue = new AsyncQueue<StreamItem>();
    // Everything streamed leaves the worker like a response does: without secret values, and
    // only then clipped to the live line limit. An encoded value is the user's bytes: neither.
    const stream = {
      push: (item: StreamItem) => queue.push(clipLiveLine(redactDeep(item))),
      pushValue: (value: unknown) => queue.push({ value }),
      close: () => queue.close(),
    };
    const workerLine = (line: string) => {
      ctx.logger.info(line);
      stream.push({ log: { stream: "worker", line, job_id: job.id, worker_id: ctx.workerId } });
    };
    const onProgress = (progress: WorkerProgress) => stream.push({ progress });
    const run = async (): Promise<HandlerResult> => {
      const preparing = hasPreparation(request);
      if (preparing) onProgress({ phase: "started", worker_id: ctx.workerId });
      const prepared = await prepare(request, options, { logger: ctx.logger, signal: ctx.signal, onLog: workerLine, onProgress }, timings);
      if ("failure" in prepared) return respond(prepared.failure, prepared.reports);

      // Made in a function of its own: a local of this one would hold the arguments while the call runs.
      let callJob: EngineJob | undefined;
      try {
        callJob = await jobWithArguments(request, blobs, ctx.signal);
      } catch (error) {
        if (!(error instanceof ArgumentBlobError)) throw error;
        ctx.logger.warn({ err: error.message }, "an argument blob could not be read");
        return respond({ success: false, error_type: ErrorType.DeserializationError, error: `An argument could not be read: ${error.message}`, stdout: "" }, prepared.reports);
      }

      const binary = request.serialization_format !== "json";
      const places = new OutputPlaces(request.blob_outputs, blobs);
      // Yielded values leave in order; one written to a blob waits for its upload, and the ones after it wait for it.
      let delivering: Promise<void> = Promise.resolve();
      let deliveryError: Error | undefined;
      // A value as it goes on the wire; undefined once a delivery has failed (a file the child wrote for it is then deleted).
      const deliver = async (value: Uint8Array | ValueFile): Promise<string | BlobOutputRef | undefined> => {
        if (deliveryError) {
          if (value instanceof ValueFile) await blobs.discard(value);
          return undefined;
        }
        try {
          return await places.place(value, ctx.signal);
        } catch (error) {
          deliveryError = error as Error;
          return undefined;
        } finally {
          if (value instanceof Uint8Array) countTransfer(value.byteLength);
        }
      };
      const onValue = (value: unknown) => {
        if (!(value instanceof Uint8Array || value instanceof ValueFile)) return stream.push({ value });
        if (request.return_aggregate_stream) {
          // The child writes no files for a plain call's values (they come back in its result); a stray one is removed.
          if (value instanceof ValueFile) return void blobs.discard(value);
          // A plain call gets every value back in its result; one too large for a stream chunk is not streamed as well.
          if (Math.ceil(value.byteLength / 3) * 4 < STREAM_CHUNK_LIMIT_BYTES - 64) stream.pushValue(bytesToBase64(value));
          return;
        }
        delivering = delivering.then(async () => {
          const placed = await deliver(value);
          if (placed !== undefined) stream.pushValue(placed);
        });
      };

      onProgress(preparing ? { phase: "running" } : { phase: "running", worker_id: ctx.workerId });
      const executeStarted = performance.now();
      const fetchedBytes = argumentBytes(callJob);
      const calling = options.engine.call(callJob, {
        signal: ctx.signal,
        timeoutMs: request.timeout_ms ?? options.defaultTimeoutMs,
        onLog: (line) => {
          ctx.logger.info({ stream: line.stream }, line.line);
          stream.push({ log: { stream: line.stream, line: line.line, job_id: job.id, worker_id: ctx.workerId } });
        },
        onValue,
        valuesAsBytes: binary,
        onArgumentsSent: () => countTransfer(fetchedBytes),
      });
      // The arguments are the child's once written: this job does not keep them alive while the call runs.
      callJob = undefined;
      const outcome = await calling;
      timings.execute_ms = since(executeStarted);
      // The runner reports stream_count for every generator call, and only for those.
      ctx.setStreamResult(outcome.stream_count !== undefined);
      await delivering;
      const result = outcome.result_bytes ?? outcome.result_file;
      delete outcome.result_bytes;
      delete outcome.result_file;
      if (result) {
        const placed = await deliver(result);
        if (placed !== undefined) outcome.result = placed;
      }
      if (deliveryError) {
        ctx.logger.error({ err: deliveryError.message }, "a value could not be delivered");
        return respond(
          { success: false, error_type: ErrorType.ResultDeliveryError, error: `The call finished but its value could not be delivered: ${deliveryError.message}`, stdout: outcome.stdout ?? "" },
          prepared.reports,
        );
      }

      const extra: Record<string, unknown> = { ...prepared.reports };
      const decision = options.onCallOutcome?.(outcome);
      if (decision?.restartChild) {
        ctx.logger.error({ errorType: outcome.error_type }, "fatal CUDA error: restarting the Python child");
        options.engine.restartChild("fatal CUDA error");
        extra.child_restarted = true;
      }
      if (options.gpuMemory) extra.gpu_memory = await options.gpuMemory().catch((error: Error) => ({ error: error.message }));
      const response = respond(outcome, extra);
      if (decision?.refreshWorkerReason) {
        ctx.logger.error({ reason: decision.refreshWorkerReason }, "asking RunPod to replace this worker (refresh_worker)");
        response.refresh_worker = true;
      }
      return response;
    };

    const result = run().finally(() => stream.close());
    // Each stream item is one HTTP post on RunPod: lines that piled up while the last post was
    // in flight leave together.
    for await (const batch of queue.batches()) yield* mergeLogLines(batch);
    return await result;
  };
}

/** Largest merged log item; a RunPod stream chunk may be up to 1 MB. */
const MAX_MERGED_LOG_CHARS = 64 * 1024;

/** Consecutive log lines of one stream become one item (lines joined by "\n"); values stay apart. */
export function mergeLogLines(items: StreamItem[]): StreamItem[] {
  const out: StreamItem[] = [];
  for (const item of items) {
    const last = out[out.length - 1];
    if (
      "log" in item &&
      last &&
      "log" in last &&
      last.log.stream === item.log.stream &&
      last.log.line.length + item.log.line.length < MAX_MERGED_LOG_CHARS
    ) {
      out[out.length - 1] = { log: { ...last.log, line: `${last.log.line}\n${item.log.line}` } };
    } else {
      out.push(item);
    }
  }
  return out;
}

type Prepared = { reports: Record<string, unknown> } | { failure: FunctionResponse; reports: Record<string, unknown> };

function hasPreparation(request: FunctionRequest): boolean {
  return request.dependencies.length + request.system_dependencies.length + request.hf_models_to_cache.length > 0;
}

async function prepare(request: FunctionRequest, options: FerryHandlerOptions, ctx: PrepareContext, timings: Timings): Promise<Prepared> {
  const reports: Record<string, unknown> = {};
  if (!hasPreparation(request)) return { reports };
  const wantsDeps = request.dependencies.length > 0 || request.system_dependencies.length > 0;
  const wantsModels = request.hf_models_to_cache.length > 0;
  const missing = (what: string, name: string) => {
    throw Object.assign(new Error(`this worker cannot ${what}`), { name });
  };

  // One preparation step: its report under `report`, its duration under `timing`.
  const step = async (report: "dependencies" | "models", timing: "install_ms" | "model_download_ms", run: () => Promise<unknown>) => {
    const t = performance.now();
    try {
      reports[report] = await run();
    } finally {
      timings[timing] = Math.round((performance.now() - t) * 100) / 100;
    }
  };
  // Installs and downloads are independent: they run at the same time.
  const steps: Promise<void>[] = [];
  if (wantsDeps) {
    steps.push(
      step("dependencies", "install_ms", async () =>
        options.installDependencies ? options.installDependencies(request, ctx) : missing("install dependencies", "DependencyInstallError"),
      ),
    );
  }
  if (wantsModels) {
    const files = { include: request.hf_allow_patterns, exclude: request.hf_ignore_patterns };
    steps.push(
      step("models", "model_download_ms", async () =>
        options.cacheModels ? options.cacheModels(request.hf_models_to_cache, ctx, files) : missing("cache Hugging Face models", "ModelDownloadError"),
      ),
    );
  }
  const settled = await Promise.allSettled(steps);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (!failed) return { reports };
  const { errorType, message } = describePreparationError(failed.reason);
  ctx.logger.error({ errorType, err: message }, "preparation failed; the user code was not run");
  return { failure: { success: false, error_type: errorType, error: `${errorType}: ${message}`, stdout: "" }, reports };
}

/** The call's job for the engine, its argument blobs fetched. */
async function jobWithArguments(request: FunctionRequest, transfers: BlobTransfers, signal: AbortSignal): Promise<EngineJob> {
  const job = engineJob(request, await resolveArgumentBlobs(request, transfers, signal));
  const valueFiles = transfers.valueFiles(request.blob_outputs);
  return valueFiles ? { ...job, value_files: valueFiles } : job;
}

/** The bytes of a job's arguments that are bytes (fetched blobs); base64 text is not counted. */
function argumentBytes(job: EngineJob): number {
  const values = [...job.args, ...job.constructor_args, ...Object.values(job.kwargs), ...Object.values(job.constructor_kwargs)];
  return values.reduce<number>((sum, value) => sum + (value instanceof Uint8Array ? value.byteLength : 0), 0);
}

function engineJob(request: FunctionRequest, resolved: ResolvedArguments): EngineJob {
  return {
    execution_type: request.execution_type,
    function_name: request.function_name,
    function_code: request.function_code,
    class_name: request.class_name,
    class_code: request.class_code,
    method_name: request.method_name,
    instance_id: request.instance_id,
    create_new_instance: request.create_new_instance,
    args: resolved.args,
    kwargs: resolved.kwargs,
    constructor_args: resolved.constructor_args,
    constructor_kwargs: resolved.constructor_kwargs,
    serialization_format: request.serialization_format,
    modules: request.modules,
    code_file: request.code_file,
    return_aggregate_stream: request.return_aggregate_stream,
  };
}
