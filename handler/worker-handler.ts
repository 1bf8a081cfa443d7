/**
 * Ferry's job handler wired to the worker's real parts: dependency installs into the chosen
 * Python, Hugging Face cache-ahead into the cache the child reads, the CUDA fault policy, and
 * GPU memory reports. handler/main.ts starts the worker with it; tests build the same handler.
 */
import { hostname } from "node:os";
import type { Logger } from "../protocol/logger.ts";
import { BlobTransfers } from "./blobs/blob-transfers.ts";
import type { PythonEngine } from "./engine/python-engine.ts";
import { createFerryHandler, type CudaFaultDecision } from "./ferry-handler.ts";
import { installDependencies, type PythonTarget } from "./deps/index.ts";
import { cacheModels } from "./hf/index.ts";
import { CudaFaultTracker, queryGpuMemoryUsedMiB } from "./gpu.ts";
import type { GpuInfo } from "../protocol/wire.ts";
import type { JobHandler } from "./worker/types.ts";
import { WORKER_VERSION } from "./worker/version.ts";

export interface WorkerHandlerParts {
  engine: PythonEngine;
  target: Pick<PythonTarget, "externallyManaged">;
  /** The Hugging Face hub cache, the same directory the child has as HF_HUB_CACHE. */
  hfCache: string;
  gpus: GpuInfo[];
  logger: Logger;
  defaultTimeoutMs?: number;
}

export function createWorkerHandler(parts: WorkerHandlerParts): JobHandler {
  const { engine, target, hfCache, gpus, logger } = parts;
  const cudaFaults = new CudaFaultTracker({ logger });
  const host = process.env.RUNPOD_POD_HOSTNAME ?? hostname();
  return createFerryHandler({
    engine,
    workerDetails: () => ({
      hostname: host,
      ferry_version: WORKER_VERSION,
      python: engine.childInfo,
      gpus,
    }),
    installDependencies: (request, ctx) =>
      installDependencies(request, {
        engine,
        target,
        logger: ctx.logger,
        signal: ctx.signal,
        onLog: (line) => ctx.onLog(line.line),
        onProgress: (p) => ctx.onProgress({ phase: "installing", ...p }),
      }),
    cacheModels: (models, ctx, files) =>
      cacheModels(models, {
        logger: ctx.logger,
        signal: ctx.signal,
        onLog: ctx.onLog,
        onProgress: (p) => ctx.onProgress({ phase: "downloading", repo: p.repo, bytes_done: p.bytesDone, bytes_total: p.bytesTotal }),
        cacheDir: hfCache,
        ...(files.include.length ? { include: files.include } : {}),
        ...(files.exclude.length ? { exclude: files.exclude } : {}),
      }),
    onCallOutcome: (outcome): CudaFaultDecision => {
      const decision = cudaFaults.recordCall(outcome.success ? null : outcome.error);
      return {
        restartChild: decision.action === "restart_child" || decision.action === "refresh_worker",
        refreshWorkerReason: decision.action === "refresh_worker" ? (decision.reason ?? "repeated fatal CUDA errors") : undefined,
      };
    },
    // Only a worker with GPUs asks: on CPU the report would always be empty.
    gpuMemory:
      gpus.length > 0
        ? async () => {
            const fromTorch = await engine.gpuMemory();
            if (fromTorch.source) return fromTorch;
            return { source: "nvidia-smi", used_mib: await queryGpuMemoryUsedMiB({ logger }) };
          }
        : undefined,
    defaultTimeoutMs: parts.defaultTimeoutMs,
    blobs: BlobTransfers.fromEnv(process.env),
  });
}
