/**
 * Sorting CUDA failures by what the worker must do about them.
 *
 * - "oom": the allocation failed but the CUDA context is intact. The call fails with
 *   `CudaOutOfMemory`, the allocator's cache is emptied, and the child keeps serving (and
 *   keeps the models it holds).
 * - "fatal": a sticky error. After an illegal address, a device-side assert, a launch failure
 *   or an ECC fault, every later CUDA call in that process fails too, so the only remedy is a
 *   new child (and, when the fault outlives that, a new worker on other hardware).
 *
 * The text to classify is an error message with its traceback, or a dead child's stderr. The
 * phrases are the CUDA runtime's and driver's own error strings as PyTorch, cuBLAS/cuDNN,
 * Triton, CuPy, JAX and TensorFlow print them, so errors from any of them are caught.
 */

export type CudaErrorKind = "oom" | "fatal";

/**
 * Sticky context errors. Phrases that could occur in ordinary prose are anchored to a CUDA
 * prefix or to the error's enum name.
 */
const FATAL_PATTERNS: readonly RegExp[] = [
  /an illegal memory access was encountered/i, // cudaErrorIllegalAddress
  /CUDA_ERROR_ILLEGAL_ADDRESS|cudaErrorIllegalAddress/,
  /device-side assert(ion)? triggered/i, // cudaErrorAssert
  /CUDA_ERROR_ASSERT\b|cudaErrorAssert\b/,
  /unspecified launch failure/i, // cudaErrorLaunchFailure
  /CUDA_ERROR_LAUNCH_FAILED|cudaErrorLaunchFailure/,
  /CUDA error: misaligned address/i,
  /CUDA_ERROR_MISALIGNED_ADDRESS|cudaErrorMisalignedAddress/,
  /uncorrectable ECC error/i, // cudaErrorECCUncorrectable
  /CUDA_ERROR_ECC_UNCORRECTABLE|cudaErrorECCUncorrectable/,
  /an illegal instruction was encountered/i, // cudaErrorIllegalInstruction
  /CUDA_ERROR_ILLEGAL_INSTRUCTION|cudaErrorIllegalInstruction/,
  /CUDA error: an invalid program counter was encountered/i,
  /CUDA_ERROR_INVALID_PC|cudaErrorInvalidPc/,
  /CUDA error: hardware stack error/i,
  /CUDA_ERROR_HARDWARE_STACK_ERROR|cudaErrorHardwareStackError/,
  /the launch timed out and was terminated/i, // cudaErrorLaunchTimeout
  /CUDA_ERROR_LAUNCH_TIMEOUT|cudaErrorLaunchTimeout/,
  /GPU is lost/i, // NVML, after an Xid 79 ("fallen off the bus")
  /fallen off the bus/i,
];

const OOM_PATTERNS: readonly RegExp[] = [
  /CUDA out of memory/i, // torch.cuda.OutOfMemoryError's message
  /torch\.cuda\.OutOfMemoryError/,
  /\bOutOfMemoryError: CUDA\b/,
  /CUDA error: out of memory/i, // a kernel launch or context creation without memory
  /CUDA_ERROR_OUT_OF_MEMORY|cudaErrorMemoryAllocation/,
  /CUBLAS_STATUS_ALLOC_FAILED/,
  /CUDNN_STATUS_ALLOC_FAILED/,
  /CUSOLVER_STATUS_ALLOC_FAILED|CUSPARSE_STATUS_ALLOC_FAILED|CUFFT_ALLOC_FAILED/,
  /cupy\S*OutOfMemoryError/, // CuPy: cupy.cuda.memory.OutOfMemoryError
  /RESOURCE_EXHAUSTED: Out of memory/i, // JAX / XLA
  /OOM when allocating tensor/, // TensorFlow ResourceExhaustedError
];

/**
 * "fatal" when the text shows a sticky CUDA error, else "oom" when it shows a failed GPU
 * allocation, else null. Fatal wins when both appear: an out-of-memory report followed by an
 * illegal access still leaves a context that cannot be used.
 */
export function classifyCudaError(text: string | null | undefined): CudaErrorKind | null {
  if (!text) return null;
  if (FATAL_PATTERNS.some((p) => p.test(text))) return "fatal";
  if (OOM_PATTERNS.some((p) => p.test(text))) return "oom";
  return null;
}
