/**
 * The GPU side of the worker: which GPUs it has (`discoverGpus`), how much of their memory is
 * in use after a call (`queryGpuMemoryUsedMiB`), which CUDA failures are recoverable
 * (`classifyCudaError`), and when to restart the child or ask for a new worker
 * (`CudaFaultTracker`).
 */
export {
  discoverGpus,
  queryGpuMemoryUsedMiB,
  parseNvidiaSmiCsv,
  GPU_QUERY_FIELDS,
  DEFAULT_NVIDIA_SMI_TIMEOUT_MS,
  type GpuQueryOptions,
  type ParsedGpuCsv,
} from "./gpu/discovery.ts";
export { classifyCudaError, type CudaErrorKind } from "./gpu/cuda-errors.ts";
export {
  CudaFaultTracker,
  type CudaFaultAction,
  type CudaFaultDecision,
  type CudaFaultTrackerOptions,
} from "./gpu/fault-tracker.ts";
export type { GpuInfo } from "../protocol/wire.ts";
