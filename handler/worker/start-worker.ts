/**
 * The worker's one entry: decide the mode (local API, local test job, RunPod job loop), run
 * it, call `onShutdown`, and resolve with the exit code. It never calls process.exit, so the
 * caller (handler/main.ts, tests) decides what happens next.
 */
import { fetchTransport, nodeHttpTransport } from "./http-transport.ts";
import { createLogger, type Logger } from "../../protocol/logger.ts";
import { parseWorkerArgs, type WorkerArgs } from "./args.ts";
import { readRunpodEnvironment } from "./config.ts";
import { runLocalApi } from "./local-api.ts";
import { decideMode } from "./modes.ts";
import type { ErrorOrigin } from "./results.ts";
import { watchShutdownSignals, type ShutdownWatch } from "./shutdown.ts";
import { runTestMode } from "./test-mode.ts";
import { DEFAULT_TIMING, type StartWorkerOptions, type WorkerExit, type WorkerMode } from "./types.ts";
import { WORKER_VERSION } from "./version.ts";
import { runWorkerLoop } from "./worker-loop.ts";

export type {
  Concurrency,
  JobContext,
  JobHandler,
  RunpodJob,
  StartWorkerOptions,
  WorkerExit,
  WorkerMode,
  WorkerTiming,
} from "./types.ts";
export { WORKER_VERSION } from "./version.ts";

function startupLine(): string {
  return `--- Starting Serverless Worker | Ferry ${WORKER_VERSION} ---`;
}

async function callOnShutdown(options: StartWorkerOptions, logger: Logger): Promise<void> {
  if (!options.onShutdown) return;
  try {
    await options.onShutdown();
  } catch (error) {
    logger.error({ err: error }, "onShutdown failed");
  }
}

export async function startWorker(options: StartWorkerOptions): Promise<WorkerExit> {
  const env = options.env ?? process.env;
  const argv = options.argv ?? process.argv.slice(2);
  const runpod = readRunpodEnvironment(env);

  let args: WorkerArgs | undefined;
  let argsError: string | undefined;
  try {
    args = parseWorkerArgs(argv);
  } catch (error) {
    argsError = error instanceof Error ? error.message : String(error);
  }
  const logger =
    options.logger ?? createLogger({ level: args?.logLevel ?? runpod.logLevel, json: runpod.endpointId !== undefined });
  if (!args) {
    logger.error(argsError ?? "bad arguments");
    return { mode: "none", exitCode: 1 };
  }

  logger.info(startupLine());
  const timing = { ...DEFAULT_TIMING, ...options.timing };
  const origin: ErrorOrigin = { hostname: runpod.hostname, workerId: runpod.workerId, version: WORKER_VERSION };
  const decision = decideMode(args, runpod, options.cwd ?? process.cwd());
  const finish = async (mode: WorkerMode, exitCode: number): Promise<WorkerExit> => {
    await callOnShutdown(options, logger);
    return { mode, exitCode };
  };

  if (decision.mode === "none") {
    logger.error(decision.reason);
    return finish("none", 1);
  }
  if (decision.mode === "test") {
    const exitCode = await runTestMode({
      handler: options.handler,
      source: decision.source,
      testOutput: args.testOutput,
      logger,
      origin,
      signal: options.stopSignal ?? new AbortController().signal,
    });
    return finish("test", exitCode);
  }

  // Long-running modes: a first SIGTERM/SIGINT (or stopSignal) stops gracefully, a second one hard.
  const stop = new AbortController();
  const hardStop = new AbortController();
  const onExternalStop = () => stop.abort();
  if (options.stopSignal?.aborted) stop.abort();
  options.stopSignal?.addEventListener("abort", onExternalStop, { once: true });
  let watch: ShutdownWatch | undefined;
  if (options.handleSignals !== false) {
    watch = watchShutdownSignals(
      (signal) => {
        logger.info({ signal }, "shutting down: no new jobs; finishing the jobs in flight");
        stop.abort();
      },
      (signal) => {
        logger.warn({ signal }, "shutting down hard: aborting the jobs in flight");
        hardStop.abort();
      },
    );
  }

  let exitCode = 0;
  try {
    if (decision.mode === "api") {
      exitCode = await runLocalApi({
        handler: options.handler,
        concurrency: options.concurrency,
        returnAggregateStream: options.returnAggregateStream ?? false,
        host: args.apiHost,
        port: args.apiPort,
        origin,
        logger,
        stop: stop.signal,
        hardStop: hardStop.signal,
        fetch: options.fetch ?? fetch,
        onListening: options.onListening,
      });
    } else {
      logger.info({ workerId: runpod.workerId }, "RunPod worker loop started");
      await runWorkerLoop({
        handler: options.handler,
        concurrency: options.concurrency,
        returnAggregateStream: options.returnAggregateStream ?? false,
        runpod: { ...runpod, getJobUrl: decision.getJobUrl },
        origin,
        timing,
        transport: options.fetch ? fetchTransport(options.fetch) : nodeHttpTransport,
        logger,
        stop,
        hardStop: hardStop.signal,
      });
      logger.info("worker stopped");
    }
  } finally {
    watch?.dispose();
    options.stopSignal?.removeEventListener("abort", onExternalStop);
  }
  return finish(decision.mode, exitCode);
}
