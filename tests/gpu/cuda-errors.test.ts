import { describe, expect, it } from "vitest";
import { classifyCudaError } from "../../handler/gpu.ts";

/** Error text as the libraries print it (tracebacks shortened to their telling lines). */
const OOM = [
  "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 160.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which 78.61 GiB is free.",
  'Traceback (most recent call last):\n  File "<ferry>", line 3, in grow\ntorch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB',
  "RuntimeError: CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some other API call",
  "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
  "RuntimeError: cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
  "cupy.cuda.memory.OutOfMemoryError: Out of memory allocating 8,589,934,592 bytes (allocated so far: 0 bytes).",
  "jaxlib.xla_extension.XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 17179869184 bytes.",
  "CUDA_ERROR_OUT_OF_MEMORY: out of memory",
  "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor with shape[65536,65536]",
];

const FATAL = [
  "RuntimeError: CUDA error: an illegal memory access was encountered\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.",
  "RuntimeError: CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously reported at some other API call",
  "RuntimeError: CUDA error: unspecified launch failure",
  "RuntimeError: CUDA error: misaligned address",
  "RuntimeError: CUDA error: uncorrectable ECC error encountered",
  "RuntimeError: CUDA error: an illegal instruction was encountered",
  "RuntimeError: CUDA error: the launch timed out and was terminated",
  "RuntimeError: Triton Error [CUDA]: an illegal memory access was encountered",
  "cupy_backends.cuda.api.runtime.CUDARuntimeError: cudaErrorIllegalAddress: an illegal memory access was encountered",
  "jaxlib.xla_extension.XlaRuntimeError: INTERNAL: CUDA_ERROR_LAUNCH_FAILED: unspecified launch failure",
  "RuntimeError: CUDA error: CUDA_ERROR_MISALIGNED_ADDRESS",
  "Unable to determine the device handle for GPU0000:00:1E.0: GPU is lost.  Reboot the system to recover this GPU",
  "../aten/src/ATen/native/cuda/IndexKernel.cu:92: operator(): block: [0,0,0], thread: [0,0,0] Assertion `idx >= 0` failed.\nRuntimeError: CUDA error: device-side assert triggered",
];

const NEITHER = [
  "",
  "ValueError: expected a positive batch size",
  "MemoryError", // host memory, classified elsewhere as OutOfMemory
  "RuntimeError: Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!",
  "AssertionError: assert the address is aligned", // prose, not CUDA's error
  "RuntimeError: Found no NVIDIA driver on your system.",
  "torch.cuda.is_available() returned False; running on CPU",
];

describe("classifyCudaError", () => {
  it.each(OOM)("oom: %s", (text) => expect(classifyCudaError(text)).toBe("oom"));
  it.each(FATAL)("fatal: %s", (text) => expect(classifyCudaError(text)).toBe("fatal"));
  it.each(NEITHER)("neither: %s", (text) => expect(classifyCudaError(text)).toBeNull());

  it("is null for null and undefined", () => {
    expect(classifyCudaError(null)).toBeNull();
    expect(classifyCudaError(undefined)).toBeNull();
  });

  it("calls fatal an OOM report followed by a sticky error", () => {
    expect(classifyCudaError(`${OOM[0]}\nDuring handling of the above exception, another exception occurred:\n${FATAL[0]}`)).toBe("fatal");
  });
});
