import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { discoverGpus, parseNvidiaSmiCsv, queryGpuMemoryUsedMiB } from "../../handler/gpu.ts";
import { GpuInfoSchema } from "../../protocol/wire.ts";
import { capturingLogger, installFakeNvidiaSmi, LEVEL, type FakeGpu, type FakeNvidiaSmi } from "./fake-nvidia-smi.ts";

const H100: FakeGpu = { name: "NVIDIA H100 80GB HBM3", memoryTotalMiB: 81559, memoryUsedMiB: 1, driverVersion: "550.54.15", computeCap: "9.0" };
const A6000: FakeGpu = { name: "NVIDIA RTX A6000", memoryTotalMiB: 49140, memoryUsedMiB: 20123, driverVersion: "550.54.15", computeCap: "8.6" };

let fake: FakeNvidiaSmi | undefined;
const cleanups: Array<() => void> = [];
afterEach(() => {
  fake?.remove();
  fake = undefined;
  for (const c of cleanups.splice(0)) c();
});

describe("discoverGpus with a fake nvidia-smi on PATH", () => {
  it("reads one GPU and asks nvidia-smi the documented query", async () => {
    fake = installFakeNvidiaSmi({ mode: "gpus", gpus: [H100] });
    const { logger, records } = capturingLogger();
    const gpus = await discoverGpus({ logger, env: fake.env });
    expect(gpus).toEqual([
      { index: 0, name: "NVIDIA H100 80GB HBM3", memory_total_mib: 81559, memory_used_mib: 1, driver_version: "550.54.15", compute_cap: "9.0" },
    ]);
    for (const g of gpus) expect(GpuInfoSchema.parse(g)).toEqual(g);
    expect(fake.calls()).toEqual([["--query-gpu=index,name,memory.total,memory.used,driver_version,compute_cap", "--format=csv,noheader,nounits"]]);
    const info = records.filter((r) => r.level === LEVEL.info);
    expect(info.map((r) => r.msg)).toEqual(["GPU 0: NVIDIA H100 80GB HBM3 (81559 MiB total, 1 MiB used, driver 550.54.15, compute capability 9.0)"]);
    expect(records.some((r) => r.level >= LEVEL.warn)).toBe(false);
  });

  it("reads two GPUs, one log line each", async () => {
    fake = installFakeNvidiaSmi({ mode: "gpus", gpus: [H100, A6000] });
    const { logger, messages } = capturingLogger();
    const gpus = await discoverGpus({ logger, env: { ...fake.env, CUDA_VISIBLE_DEVICES: "1" } });
    expect(gpus.map((g) => [g.index, g.name, g.memory_total_mib, g.memory_used_mib, g.compute_cap])).toEqual([
      [0, "NVIDIA H100 80GB HBM3", 81559, 1, "9.0"],
      [1, "NVIDIA RTX A6000", 49140, 20123, "8.6"],
    ]);
    const lines = messages(LEVEL.info);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^GPU 1: NVIDIA RTX A6000 \(49140 MiB total, 20123 MiB used/);
  });

  it("reads values the driver does not report as null", async () => {
    fake = installFakeNvidiaSmi({ mode: "gpus", gpus: [{ ...H100, memoryUsedMiB: "[N/A]", computeCap: "[Not Supported]" }] });
    const { logger } = capturingLogger();
    const [gpu] = await discoverGpus({ logger, env: fake.env });
    expect(gpu).toMatchObject({ memory_total_mib: 81559, memory_used_mib: null, compute_cap: null });
  });

  it("retries without compute_cap on a driver that does not know the field", async () => {
    fake = installFakeNvidiaSmi({ mode: "gpus", gpus: [H100], rejectComputeCap: true });
    const { logger, records } = capturingLogger();
    const gpus = await discoverGpus({ logger, env: fake.env });
    expect(gpus).toEqual([{ index: 0, name: H100.name, memory_total_mib: 81559, memory_used_mib: 1, driver_version: "550.54.15", compute_cap: null }]);
    expect(fake.calls().map((args) => args[0])).toEqual([
      "--query-gpu=index,name,memory.total,memory.used,driver_version,compute_cap",
      "--query-gpu=index,name,memory.total,memory.used,driver_version",
    ]);
    expect(records.some((r) => r.level >= LEVEL.warn)).toBe(false);
  });

  it("says it runs on CPU when nvidia-smi is not on PATH", async () => {
    const empty = mkdtempSync(join(tmpdir(), "ferry-empty-path-"));
    cleanups.push(() => rmSync(empty, { recursive: true, force: true }));
    const { logger, records } = capturingLogger();
    const gpus = await discoverGpus({ logger, env: { PATH: empty } });
    expect(gpus).toEqual([]);
    const said = records.filter((r) => r.level >= LEVEL.info);
    expect(said.map((r) => [r.level, r.msg])).toEqual([[LEVEL.info, "no nvidia-smi on PATH: no NVIDIA GPU visible, running on CPU"]]);
  });

  it("keeps the readable rows of malformed output and warns about the rest", async () => {
    fake = installFakeNvidiaSmi({
      mode: "raw",
      stdout: [
        "0, NVIDIA A100-SXM4-80GB, 81920, 4, 535.104.05, 8.0",
        "garbage line without commas",
        "x, NVIDIA A100-SXM4-80GB, 81920, 4, 535.104.05, 8.0",
        "2, NVIDIA A100-SXM4-80GB, lots, 4, 535.104.05, 8.0",
        "3, , 81920, 4, 535.104.05, 8.0",
        "4, NVIDIA A100-SXM4-80GB, 81920, 7, 535.104.05, 8.0",
        "",
      ].join("\n"),
    });
    const { logger, records } = capturingLogger();
    const gpus = await discoverGpus({ logger, env: fake.env });
    expect(gpus.map((g) => [g.index, g.memory_used_mib])).toEqual([
      [0, 4],
      [4, 7],
    ]);
    const warnings = records.filter((r) => r.level === LEVEL.warn);
    expect(warnings).toHaveLength(4);
    expect(warnings.every((w) => w.msg === "GPU discovery: unreadable line from nvidia-smi, skipped")).toBe(true);
    expect(String(warnings[0]?.problem)).toContain("garbage line without commas");
    expect(records.filter((r) => r.level === LEVEL.info)).toHaveLength(2);
  });

  it("returns [] with a warning when nothing nvidia-smi printed can be read", async () => {
    fake = installFakeNvidiaSmi({ mode: "raw", stdout: "<html>not csv</html>\n" });
    const { logger, messages } = capturingLogger();
    expect(await discoverGpus({ logger, env: fake.env })).toEqual([]);
    expect(messages(LEVEL.warn)).toContain("GPU discovery: no readable GPU line from nvidia-smi, running on CPU");
  });

  it("returns [] with the driver's message when nvidia-smi fails", async () => {
    fake = installFakeNvidiaSmi({ mode: "driver-failure" });
    const { logger, records } = capturingLogger();
    expect(await discoverGpus({ logger, env: fake.env })).toEqual([]);
    const warning = records.find((r) => r.level === LEVEL.warn);
    expect(warning?.msg).toBe("GPU discovery failed: running on CPU");
    expect(warning?.reason).toBe(
      "nvidia-smi exited with code 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    );
  });

  it("gives up on an nvidia-smi that hangs, within its timeout", async () => {
    fake = installFakeNvidiaSmi({ mode: "hang" });
    const { logger, records } = capturingLogger();
    const started = performance.now();
    expect(await discoverGpus({ logger, env: fake.env, timeoutMs: 500 })).toEqual([]);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(records.find((r) => r.level === LEVEL.warn)?.reason).toBe("nvidia-smi did not answer within 500 ms");
  });
});

describe("queryGpuMemoryUsedMiB", () => {
  it("sums the memory in use over the GPUs", async () => {
    fake = installFakeNvidiaSmi({ mode: "gpus", gpus: [H100, A6000] });
    expect(await queryGpuMemoryUsedMiB({ logger: capturingLogger().logger, env: fake.env })).toBe(20124);
  });

  it("is null without nvidia-smi, and when the driver fails, without a warning", async () => {
    const empty = mkdtempSync(join(tmpdir(), "ferry-empty-path-"));
    cleanups.push(() => rmSync(empty, { recursive: true, force: true }));
    const quiet = capturingLogger();
    expect(await queryGpuMemoryUsedMiB({ logger: quiet.logger, env: { PATH: empty } })).toBeNull();
    fake = installFakeNvidiaSmi({ mode: "driver-failure" });
    expect(await queryGpuMemoryUsedMiB({ logger: quiet.logger, env: fake.env })).toBeNull();
    expect(quiet.records.some((r) => r.level >= LEVEL.info)).toBe(false);
  });

  it("is null when the GPU does not report memory in use", async () => {
    fake = installFakeNvidiaSmi({ mode: "gpus", gpus: [{ ...H100, memoryUsedMiB: "[N/A]" }] });
    expect(await queryGpuMemoryUsedMiB({ logger: capturingLogger().logger, env: fake.env })).toBeNull();
  });
});

describe("parseNvidiaSmiCsv", () => {
  it("keeps a comma inside a product name in the name", () => {
    const { gpus, problems } = parseNvidiaSmiCsv("0, Quadro RTX 8000, Founders, 48601, 0, 470.82.01, 7.5\n");
    expect(problems).toEqual([]);
    expect(gpus[0]).toMatchObject({ name: "Quadro RTX 8000, Founders", memory_total_mib: 48601, driver_version: "470.82.01", compute_cap: "7.5" });
  });

  it("accepts values with units and CRLF line ends", () => {
    const { gpus } = parseNvidiaSmiCsv("0, Tesla T4, 15360 MiB, 0 MiB, 525.85.12, 7.5\r\n");
    expect(gpus[0]).toMatchObject({ memory_total_mib: 15360, memory_used_mib: 0 });
  });

  it("reads empty output as no GPU and no problem", () => {
    expect(parseNvidiaSmiCsv("\n")).toEqual({ gpus: [], problems: [] });
  });
});
