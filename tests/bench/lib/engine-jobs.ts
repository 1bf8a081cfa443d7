/**
 * Starting the Python engine and Ferry's handler for benchmarks, and driving the handler the
 * way the worker runtime does.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PythonEngine, type EngineOptions } from "../../../handler/engine/python-engine.ts";
import { createFerryHandler, type FerryHandlerOptions } from "../../../handler/ferry-handler.ts";
import { silentLogger } from "../../../protocol/logger.ts";
import { runnerPython } from "../../../protocol/python-interpreter.ts";
import type { FunctionResponse } from "../../../protocol/wire.ts";
import type { JobHandler } from "../../../handler/worker/types.ts";
import type { GroupContext } from "./figures.ts";

export const REPO_ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const PYTHON = runnerPython(process.env, REPO_ROOT);
/** The built worker bundle (`make build`). */
export const HANDLER_BUNDLE = resolve(REPO_ROOT, "dist", "handler.mjs");

/** Starts an engine that the group's cleanup stops. */
export async function startEngine(ctx: GroupContext, options: Partial<EngineOptions> = {}): Promise<PythonEngine> {
  const engine = new PythonEngine({ python: PYTHON, logger: silentLogger(), cancelGraceMs: 1_000, ...options });
  ctx.cleanup(() => engine.stop(2_000));
  await engine.start();
  return engine;
}

export function ferryHandler(engine: PythonEngine, options: Partial<FerryHandlerOptions> = {}): JobHandler {
  return createFerryHandler({ engine, workerDetails: () => ({ worker_id: "bench" }), ...options });
}

let jobCounter = 0;

/** Drives the handler like the worker runtime does; counts stream items. */
export async function runHandlerJob(
  handler: JobHandler,
  input: Record<string, unknown>,
  options: { signal?: AbortSignal; onValue?: () => void } = {},
): Promise<FunctionResponse> {
  const job = { id: `bench-${++jobCounter}`, input };
  const ctx = { signal: options.signal ?? new AbortController().signal, logger: silentLogger(), workerId: "bench", progress: async () => {}, setStreamResult: () => {} };
  const generator = handler(job, ctx) as AsyncGenerator<unknown, FunctionResponse>;
  for (;;) {
    const next = await generator.next();
    if (next.done) return next.value;
    if (options.onValue && next.value && typeof next.value === "object" && "value" in next.value) options.onValue();
  }
}

/** A JSON-format function job. */
export function jsonJob(code: string, args: unknown[] = [], name = "f"): Record<string, unknown> {
  return { function_name: name, function_code: code, args, serialization_format: "json" };
}

export const NOOP_JOB = jsonJob("def f():\n    return None");

export function assertSuccess(response: { success?: boolean; error?: string | null | undefined; error_type?: string | null | undefined }, what: string): void {
  if (!response.success) throw new Error(`${what} failed: ${response.error_type ?? ""} ${String(response.error ?? "").split("\n")[0]}`);
}
