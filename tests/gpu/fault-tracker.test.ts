import { describe, expect, it } from "vitest";
import { CudaFaultTracker } from "../../handler/gpu.ts";
import { capturingLogger, LEVEL } from "./fake-nvidia-smi.ts";

const ILLEGAL = 'Traceback (most recent call last):\n  File "<ferry>", line 4, in step\nRuntimeError: CUDA error: an illegal memory access was encountered\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.';
const ASSERT = "RuntimeError: CUDA error: device-side assert triggered";
const OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 160.00 GiB.";

describe("CudaFaultTracker", () => {
  it("does nothing after healthy calls and ordinary errors", () => {
    const t = new CudaFaultTracker();
    expect(t.recordCall(null)).toEqual({ action: "none", reason: null, consecutiveFatal: 0 });
    expect(t.recordCall("ValueError: bad input").action).toBe("none");
  });

  it("clears the CUDA cache after an OOM and keeps the child", () => {
    const decision = new CudaFaultTracker().recordCall(OOM);
    expect(decision.action).toBe("clear_cuda_cache");
    expect(decision.reason).toBe(`CUDA out of memory: ${OOM}`);
  });

  it("restarts the child after one fatal error, and asks for a new worker when the next call fails fatally too", () => {
    const { logger, records } = capturingLogger();
    const t = new CudaFaultTracker({ logger });
    const first = t.recordCall(ILLEGAL);
    expect(first.action).toBe("restart_child");
    expect(first.consecutiveFatal).toBe(1);
    expect(first.reason).toContain("RuntimeError: CUDA error: an illegal memory access was encountered");
    const second = t.recordCall(ASSERT);
    expect(second.action).toBe("refresh_worker");
    expect(second.consecutiveFatal).toBe(2);
    expect(second.reason).toBe(
      "fatal CUDA error persisted after a child restart (2 in a row): RuntimeError: CUDA error: device-side assert triggered; asking RunPod to replace this worker",
    );
    expect(t.refreshReason).toBe(second.reason);
    expect(records.map((r) => [r.level, r.action])).toEqual([
      [LEVEL.warn, "restart_child"],
      [LEVEL.error, "refresh_worker"],
    ]);
  });

  it("keeps asking for a new worker once it has decided to", () => {
    const t = new CudaFaultTracker();
    t.recordCall(ILLEGAL);
    const decided = t.recordCall(ILLEGAL);
    expect(t.recordCall(null)).toEqual({ action: "refresh_worker", reason: decided.reason, consecutiveFatal: 0 });
    expect(t.recordCall(OOM).action).toBe("refresh_worker");
    expect(t.recordCall(ILLEGAL).reason).toBe(decided.reason);
  });

  it("starts counting again after a call without a fatal error (an OOM included)", () => {
    const t = new CudaFaultTracker();
    expect(t.recordCall(ILLEGAL).action).toBe("restart_child");
    expect(t.recordCall(null).action).toBe("none");
    expect(t.recordCall(ILLEGAL).action).toBe("restart_child");
    expect(t.recordCall(OOM).action).toBe("clear_cuda_cache");
    expect(t.consecutiveFatal).toBe(0);
    expect(t.recordCall(ILLEGAL).action).toBe("restart_child");
  });

  it("takes a classification made elsewhere", () => {
    const t = new CudaFaultTracker({ maxConsecutiveFatal: 3 });
    expect(t.record("fatal", "child exited: CUDA error: unspecified launch failure").action).toBe("restart_child");
    expect(t.record("fatal").action).toBe("restart_child");
    const third = t.record("fatal", "x");
    expect(third.action).toBe("refresh_worker");
    expect(third.reason).toContain("(3 in a row): x;");
  });

  it("asks for a new worker at once when the limit is 1", () => {
    expect(new CudaFaultTracker({ maxConsecutiveFatal: 1 }).recordCall(ILLEGAL).action).toBe("refresh_worker");
  });

  it("rejects a limit that is not a positive integer", () => {
    expect(() => new CudaFaultTracker({ maxConsecutiveFatal: 0 })).toThrow(RangeError);
    expect(() => new CudaFaultTracker({ maxConsecutiveFatal: 1.5 })).toThrow(RangeError);
  });
});
