/**
 * The worker's entry (bundled into dist/handler.mjs): choose the Python, start its child and
 * discover the GPUs, then hand Ferry's job handler to the RunPod worker runtime, which picks the
 * mode (local API, local test job, or the RunPod job loop) from the arguments and environment.
 *
 * `--check` starts the Python child, prints one JSON line with what was found, and exits: the
 * build uses it to prove the bundle runs on its own.
 */
import { hostname } from "node:os";
import { createLogger, parseLogLevel } from "./logger.ts";
import { PythonEngine } from "./engine/python-engine.ts";
import { createFerryHandler, type CudaFaultDecision } from "./ferry-handler.ts";
import { runnerPython } from "./python-interpreter.ts";
import { startWorker, WORKER_VERSION } from "./worker/start-worker.ts";
import { installDependencies, resolvePythonTarget } from "./deps/index.ts";
import { cacheModels, hubCacheDir } from "./hf/index.ts";
import { CudaFaultTracker, discoverGpus, queryGpuMemoryUsedMiB } from "./gpu.ts";

function argValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

function positiveInteger(raw: string | undefined, fallback: number): number {
  const value = Number(raw);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const logger = createLogger({ level: parseLogLevel(argValue(argv, "--rp_log_level") ?? process.env.RUNPOD_LOG_LEVEL) });
  // @huggingface/hub reports each file it fetches with console.debug; that belongs in the log, not on stdout.
  console.debug = (...args: unknown[]) => logger.debug(args.map(String).join(" "));
  const target = await resolvePythonTarget({ basePython: runnerPython(), logger });
  // The child reads models from the same cache the worker downloads them into.
  const hfCache = hubCacheDir(process.env);
  const engine = new PythonEngine({ python: target.python, logger, env: { ...process.env, HF_HUB_CACHE: hfCache } });
  const [started, gpus] = await Promise.allSettled([engine.start(), discoverGpus({ logger })]);
  if (started.status === "rejected") {
    logger.fatal(
      { python: target.python },
      `cannot start the Python runner: ${(started.reason as Error).message}. Set FERRY_PYTHON to a Python with msgpack and cloudpickle (or run \`make setup\`).`,
    );
    return 1;
  }
  const gpuList = gpus.status === "fulfilled" ? gpus.value : [];

  if (argv.includes("--check")) {
    process.stdout.write(`${JSON.stringify({ ready: true, version: WORKER_VERSION, python: engine.childInfo, target: target.kind, gpus: gpuList })}\n`);
    await engine.stop();
    return 0;
  }

  const cudaFaults = new CudaFaultTracker({ logger });
  const handler = createFerryHandler({
    engine,
    workerDetails: () => ({
      hostname: process.env.RUNPOD_POD_HOSTNAME ?? hostname(),
      ferry_version: WORKER_VERSION,
      python: engine.childInfo,
      gpus: gpuList,
    }),
    installDependencies: (request, ctx) =>
      installDependencies(request, { engine, target, logger: ctx.logger, signal: ctx.signal, onLog: (line) => ctx.onLog(line.line) }),
    cacheModels: (models, ctx) => cacheModels(models, { logger: ctx.logger, signal: ctx.signal, onLog: ctx.onLog, cacheDir: hfCache }),
    onCallOutcome: (outcome): CudaFaultDecision => {
      const decision = cudaFaults.recordCall(outcome.success ? null : outcome.error);
      return {
        restartChild: decision.action === "restart_child" || decision.action === "refresh_worker",
        refreshWorkerReason: decision.action === "refresh_worker" ? (decision.reason ?? "repeated fatal CUDA errors") : undefined,
      };
    },
    gpuMemory:
      gpuList.length > 0
        ? async () => {
            const fromTorch = await engine.gpuMemory();
            if (fromTorch.source) return fromTorch;
            return { source: "nvidia-smi", used_mib: await queryGpuMemoryUsedMiB({ logger }) };
          }
        : undefined,
    defaultTimeoutMs: process.env.FERRY_DEFAULT_TIMEOUT_MS ? positiveInteger(process.env.FERRY_DEFAULT_TIMEOUT_MS, 0) || undefined : undefined,
  });
  const exit = await startWorker({
    handler,
    concurrency: positiveInteger(process.env.FERRY_CONCURRENCY, 1),
    logger,
    onShutdown: () => engine.stop(),
  });
  return exit.exitCode;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`ferry worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
