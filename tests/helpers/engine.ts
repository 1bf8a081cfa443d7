// Helpers for suites that run jobs through the real Python child and Ferry's handler.
import { PythonEngine, type EngineOptions } from "../../handler/engine/python-engine.ts";
import { createFerryHandler, type FerryHandlerOptions } from "../../handler/ferry-handler.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { silentLogger } from "../../protocol/logger.ts";
import type { FunctionRequestInput, FunctionResponse, StreamItem } from "../../protocol/wire.ts";
import type { JobHandler } from "../../handler/worker/types.ts";

export const python = runnerPython();

export function newEngine(options: Partial<EngineOptions> = {}): PythonEngine {
  return new PythonEngine({ python, logger: silentLogger(), cancelGraceMs: 1_000, ...options });
}

export function newHandler(engine: PythonEngine, options: Partial<FerryHandlerOptions> = {}): JobHandler {
  return createFerryHandler({ engine, workerDetails: () => ({ worker_id: "test-worker" }), ...options });
}

export interface JobRun {
  response: FunctionResponse & { refresh_worker?: boolean };
  items: StreamItem[];
  values: unknown[];
  logs: string[];
}

/** Drives the handler like the worker runtime does: every stream item, then the return value. */
export async function runJob(
  handler: JobHandler,
  input: FunctionRequestInput | Record<string, unknown>,
  options: { signal?: AbortSignal; id?: string; onItem?: (item: StreamItem) => void } = {},
): Promise<JobRun> {
  const job = { id: options.id ?? `job-${Math.random().toString(16).slice(2)}`, input };
  const ctx = { signal: options.signal ?? new AbortController().signal, logger: silentLogger(), workerId: "test-worker", progress: async () => {}, setStreamResult: () => {} };
  const generator = handler(job, ctx) as AsyncGenerator<StreamItem, FunctionResponse>;
  const items: StreamItem[] = [];
  for (;;) {
    const next = await generator.next();
    if (next.done) {
      const values = items.filter((i): i is { value: unknown } => "value" in i).map((i) => i.value);
      const logs = items.filter((i): i is Extract<StreamItem, { log: unknown }> => "log" in i).map((i) => i.log.line);
      return { response: next.value, items, values, logs };
    }
    items.push(next.value);
    options.onItem?.(next.value);
  }
}

/** A JSON-format function job. */
export function fn(code: string, name = "f", args: unknown[] = [], extra: Record<string, unknown> = {}) {
  return { function_name: name, function_code: code, args, serialization_format: "json" as const, ...extra };
}

export const HEALTHY = fn("def f(x):\n    return x + 1", "f", [41]);
