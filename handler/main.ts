/**
 * The worker's entry (bundled into dist/handler.mjs): start the Python child, then hand Ferry's
 * job handler to the RunPod worker runtime, which picks the mode (local API, local test job,
 * or the RunPod job loop) from the arguments and environment.
 *
 * `--check` starts the Python child, prints one JSON line with what was found, and exits: the
 * build uses it to prove the bundle runs on its own.
 */
import { hostname } from "node:os";
import { createLogger } from "./logger.ts";
import { PythonEngine } from "./engine/python-engine.ts";
import { createFerryHandler } from "./ferry-handler.ts";
import { runnerPython } from "./python-interpreter.ts";
import { startWorker, WORKER_VERSION } from "./worker/start-worker.ts";
import { parseLogLevel } from "./logger.ts";

function argValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const logger = createLogger({ level: parseLogLevel(argValue(argv, "--rp_log_level") ?? process.env.RUNPOD_LOG_LEVEL) });
  const python = runnerPython();
  const engine = new PythonEngine({ python, logger });
  try {
    await engine.start();
  } catch (error) {
    logger.fatal(
      { python },
      `cannot start the Python runner: ${(error as Error).message}. Set FERRY_PYTHON to a Python with msgpack and cloudpickle (or run \`make setup\`).`,
    );
    return 1;
  }

  if (argv.includes("--check")) {
    process.stdout.write(`${JSON.stringify({ ready: true, version: WORKER_VERSION, python: engine.childInfo })}\n`);
    await engine.stop();
    return 0;
  }

  const workerId = process.env.RUNPOD_POD_ID ?? `local-${hostname()}`;
  const handler = createFerryHandler({
    engine,
    workerDetails: () => ({ worker_id: workerId, hostname: process.env.RUNPOD_POD_HOSTNAME ?? hostname(), ferry_version: WORKER_VERSION, python: engine.childInfo }),
    defaultTimeoutMs: process.env.FERRY_DEFAULT_TIMEOUT_MS ? Number(process.env.FERRY_DEFAULT_TIMEOUT_MS) : undefined,
  });
  const exit = await startWorker({
    handler,
    concurrency: Number(process.env.FERRY_CONCURRENCY ?? 1),
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
