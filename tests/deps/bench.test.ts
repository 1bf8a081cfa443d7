import { readFileSync } from "node:fs";
// Speed of the "nothing to install" path: 30 satisfied requirements, checked by the warm child
// (first check) and answered from memory (memoized), beside `python -m pip install` of the
// same 30 (a no-op), all measured in this run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PythonEngine } from "../../handler/engine/python-engine.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { runLoggedSubprocess } from "../../handler/subprocess.ts";
import { parseFunctionRequest } from "../../protocol/wire.ts";
import { REQUIREMENTS_CHECK_SCRIPT, clearDependencyMemo, installDependencies, resolvePythonTarget, type PythonTarget } from "../../handler/deps/index.ts";
import { startPep503Index, type Pep503Index } from "../helpers/pep503-index.ts";
import { buildWheel } from "../helpers/wheels.ts";

const logger = silentLogger();
const N = 30;
let dir: string;
let index: Pep503Index;
let target: PythonTarget;
let engine: PythonEngine;
let env: NodeJS.ProcessEnv;
const names = Array.from({ length: N }, (_, i) => `ferry-bench-${String(i).padStart(2, "0")}`);
const requirements = names.map((n, i) => (i % 3 === 0 ? `${n}>=1.0` : i % 3 === 1 ? `${n}==1.0.0` : `${n}<2,>=0.5`));

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 1000) / 1000;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "ferry-deps-bench-"));
  index = await startPep503Index(names.map((name) => buildWheel({ name, version: "1.0.0" })));
  env = { ...process.env, FERRY_VENV: path.join(dir, "venv"), PIP_INDEX_URL: index.url, UV_INDEX_URL: index.url, PIP_CACHE_DIR: path.join(dir, "pip-cache") };
  target = await resolvePythonTarget({ basePython: runnerPython(), logger, env });
  engine = new PythonEngine({ python: target.python, logger, env });
  await engine.start();
  // Install the 30 through the dependency step itself (one pip command).
  clearDependencyMemo();
  const report = await installDependencies({ dependencies: requirements, accelerate_downloads: false }, { engine, logger, env, target });
  if (report.python.installed.length !== N) throw new Error(`expected ${N} installs, got ${report.python.installed.length}`);
}, 180_000);

afterAll(async () => {
  await engine?.stop();
  await index?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("30 satisfied requirements", () => {
  it("first check <= 20 ms and memoized <= 1 ms (p50), >= 20x faster than a pip no-op", async () => {
    const first: number[] = [];
    const checkOnly: number[] = [];
    for (let i = 0; i < 15; i++) {
      clearDependencyMemo();
      const t = performance.now();
      const report = await installDependencies({ dependencies: requirements }, { engine, logger, env, target });
      first.push(performance.now() - t);
      checkOnly.push(report.python.check_ms);
      expect(report.python.memoized).toBe(false);
      expect(report.python.already_present).toHaveLength(N);
      expect(report.python.installed).toEqual([]);
    }
    const memoized: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const report = await installDependencies({ dependencies: requirements }, { engine, logger, env, target });
      memoized.push(performance.now() - t);
      expect(report.python.memoized).toBe(true);
    }
    const pipNoop: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await runLoggedSubprocess(target.python, ["-m", "pip", "install", "--disable-pip-version-check", "--", ...requirements], {
        operation: "bench-pip-noop",
        timeoutMs: 120_000,
        env,
      });
      expect(r.ok, r.stderr).toBe(true);
      expect(r.stdout).not.toMatch(/Successfully installed/);
      pipNoop.push(r.durationMs);
    }

    // The Python side alone, inside the same warm child: the runner's check and the reference one.
    const inChild = parseFunctionRequest({
      function_name: "measure",
      function_code: `${readFileSync(REQUIREMENTS_CHECK_SCRIPT, "utf8")}
import time, statistics, __main__
def measure(reqs):
    out = {}
    for label, fn in (("runner", getattr(__main__, "check_requirements", None)), ("reference", check_requirements)):
        if fn is None:
            continue
        fn(reqs)
        times = []
        for _ in range(20):
            t = time.perf_counter(); fn(reqs); times.append((time.perf_counter() - t) * 1000)
        out[label] = statistics.median(times)
    return out
`,
      args: [requirements],
      serialization_format: "json",
    });
    if (!inChild.ok) throw new Error(inChild.error);
    const python = await engine.call(inChild.request, { timeoutMs: 30_000 });
    expect(python.success, String(python.error)).toBe(true);

    const result = {
      first_check_p50_ms: round(p50(first)),
      first_check_python_roundtrip_p50_ms: round(p50(checkOnly)),
      memoized_p50_ms: round(p50(memoized)),
      pip_noop_p50_ms: round(p50(pipNoop)),
      speedup_first_vs_pip: Math.round(p50(pipNoop) / p50(first)),
      python_side_p50_ms: python.json_result,
    };
    console.log(`[bench] deps, ${N} satisfied requirements: ${JSON.stringify(result)}`);
    expect(result.first_check_p50_ms).toBeLessThanOrEqual(20);
    expect(result.memoized_p50_ms).toBeLessThanOrEqual(1);
    expect(result.speedup_first_vs_pip).toBeGreaterThanOrEqual(20);
  }, 180_000);
});
