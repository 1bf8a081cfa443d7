/**
 * The worker's entry (bundled into dist/handler.mjs): choose the Python, start its child and
 * discover the GPUs, then hand Ferry's job handler to the RunPod worker runtime, which picks the
 * mode (local API, local test job, or the RunPod job loop) from the arguments and environment.
 *
 * `--check` starts the Python child, prints one JSON line with what was found, and exits: the
 * build uses it to prove the bundle runs on its own.
 */
import { createLogger } from "../protocol/logger.ts";
import { parseWorkerArgs } from "./worker/args.ts";
import { PythonEngine } from "./engine/python-engine.ts";
import { createWorkerHandler } from "./worker-handler.ts";
import { runnerPython } from "../protocol/python-interpreter.ts";
import { startWorker, WORKER_VERSION } from "./worker/start-worker.ts";
import { watchParentPipe } from "./worker/parent-pipe.ts";
import { resolvePythonTarget } from "./deps/index.ts";
import { hubCacheDir } from "./hf/index.ts";
import { discoverGpus } from "./gpu.ts";

function positiveInteger(raw: string | undefined, fallback: number): number {
  const value = Number(raw);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  // One logger for the whole worker; --rp_log_level (either spelling) wins over RUNPOD_LOG_LEVEL.
  const logger = createLogger({ level: parseWorkerArgs(argv).logLevel });
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

  // Started by a local server that has since died: in-flight results have nowhere to go, so
  // the worker exits now (the exit hooks take its Python child's group with it).
  watchParentPipe(process.env, logger, () => process.exit(1));
  const handler = createWorkerHandler({
    engine,
    target,
    hfCache,
    gpus: gpuList,
    logger,
    defaultTimeoutMs: positiveInteger(process.env.FERRY_DEFAULT_TIMEOUT_MS, 0) || undefined,
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
