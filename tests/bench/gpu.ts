/**
 * Figure group 11 (issue 13): GPU figures, through the engine, when the machine has an NVIDIA
 * GPU (nvidia-smi answers) and the runner's Python has torch with CUDA. Without a GPU the rows
 * say so ("unmeasured (no GPU available)"); nothing is estimated.
 */
import { execFileSync } from "node:child_process";
import type { EngineJob } from "../../handler/engine/python-engine.ts";
import { parseFunctionRequest } from "../../protocol/wire.ts";
import type { BenchGroup } from "./lib/figures.ts";
import { jsonJob, startEngine } from "./lib/engine-jobs.ts";
import { summarize } from "./lib/stats.ts";

function gpuName(): string | null {
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader"], { encoding: "utf8", timeout: 15_000 }).trim();
    return out.split("\n")[0]?.trim() || null;
  } catch {
    return null;
  }
}

function engineJob(input: Record<string, unknown>): EngineJob {
  const parsed = parseFunctionRequest(input);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.request as unknown as EngineJob;
}

const MATMUL = `
import time, torch
def f():
    a = torch.randn(4096, 4096, device="cuda")
    b = torch.randn(4096, 4096, device="cuda")
    torch.cuda.synchronize()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        (a @ b).sum().item()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1000)
    return {"device": torch.cuda.get_device_name(0), "ms": sorted(times)[len(times) // 2]}
`;

const MODEL = `
import time, torch
MODEL = None
def f():
    global MODEL
    t = time.perf_counter()
    if MODEL is None:
        MODEL = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 1024)).to("cuda")
    with torch.no_grad():
        MODEL(torch.randn(64, 1024, device="cuda")).sum().item()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1000
`;

const OOM = `
import torch
def f():
    free, total = torch.cuda.mem_get_info()
    return torch.empty(int(total * 2), dtype=torch.uint8, device="cuda").numel()
`;

export const gpuGroup: BenchGroup = {
  key: "gpu",
  title: "GPU figures (issue 13)",
  budgetMs: 60_000,
  figures: [
    { id: "gpu.matmul", name: "GPU: 4096×4096 float32 matmul on cuda (median of 5, in the child)", goal: null },
    { id: "gpu.model-first", name: "GPU: resident model, first call (load to cuda + forward)", goal: null },
    { id: "gpu.model-warm", name: "GPU: resident model, warm call (p50 of 4)", goal: null },
    { id: "gpu.oom-recovery", name: "GPU: CUDA OOM answered, then a healthy call", goal: null },
  ],
  async run(ctx) {
    const name = gpuName();
    if (!name) {
      for (const f of gpuGroup.figures) ctx.skip(f.id, "no GPU available", "unmeasured");
      return;
    }
    const engine = await startEngine(ctx);
    const probe = await engine.call(engineJob(jsonJob("def f():\n    import torch\n    return torch.cuda.is_available()")));
    if (!probe.success || probe.json_result !== true) {
      const why = probe.success ? "torch sees no CUDA device" : `torch is not importable by the runner's Python (${probe.error_type})`;
      for (const f of gpuGroup.figures) ctx.skip(f.id, `GPU ${name} present, but ${why}`);
      return;
    }
    const matmul = await engine.call(engineJob(jsonJob(MATMUL)));
    if (!matmul.success) throw new Error(`matmul failed: ${matmul.error_type} ${matmul.error}`);
    const mm = matmul.json_result as { device: string; ms: number };
    ctx.report("gpu.matmul", { value: mm.ms, unit: "ms", note: `device: ${mm.device}.` });

    const model = engineJob(jsonJob(MODEL));
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = await engine.call(model);
      if (!out.success) throw new Error(`model call failed: ${out.error_type} ${out.error}`);
      times.push(out.json_result as number);
    }
    ctx.report("gpu.model-first", { value: times[0]!, unit: "ms", note: `device: ${mm.device}.` });
    const warm = summarize(times.slice(1));
    ctx.report("gpu.model-warm", { value: warm.p50, unit: "ms", stats: warm, note: `device: ${mm.device}; the model stayed on the GPU between calls.` });

    const t = performance.now();
    const oom = await engine.call(engineJob(jsonJob(OOM)));
    const healthy = await engine.call(model);
    const ms = performance.now() - t;
    if (oom.error_type !== "CudaOutOfMemory") throw new Error(`the OOM call answered ${oom.error_type}`);
    if (!healthy.success) throw new Error(`the call after the OOM failed: ${healthy.error_type}`);
    ctx.report("gpu.oom-recovery", { value: ms, unit: "ms", note: `answered CudaOutOfMemory, then the resident model answered again; device: ${mm.device}.` });
  },
};
