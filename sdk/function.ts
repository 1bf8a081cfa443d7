/**
 * Remote callables: a typed async function that runs one Python function (or one method of a
 * remote instance) per call, with `.call()` for the details beside the value, `.stream()` for
 * generators, and `.with()` for per-call options (abort signal, timeout, log handler, result
 * schema, validation against the Python annotations).
 */
import { z } from "zod";
import type { FunctionRequestInput } from "../protocol/wire.ts";
import type { CallValues, EncodedArg } from "./blobs/call-values.ts";
import { invoke, invokeStream, type CallControlOptions, type CallInfo, type CallResult, type LogHandler, type Outcome } from "./call.ts";
import { encodeBase64 } from "./codec.ts";
import { ConfigError, ResultValidationError } from "./errors.ts";
import { isKwargs, splitArgs, type CallArgs } from "./kwargs.ts";
import { parseOptions } from "./options.ts";
import { schemaOf } from "./python-types/result-schema.ts";
import type { FunctionSignature, NamedType } from "./python-types/signatures.ts";
import type { Resource } from "./resources.ts";
import type { ProgressHandler } from "./progress/events.ts";
import { getRuntime } from "./runtime.ts";

/** Options of one call, or defaults for a callable made with `.with(options)`. */
export interface CallOptions {
  /** Aborting it rejects the call with CancelledError and cancels the job on the endpoint. */
  signal?: AbortSignal | undefined;
  /** Whole-call limit (queue, installs, execution); past it the call rejects with RemoteTimeoutError and the job is cancelled. */
  timeoutMs?: number | undefined;
  /** Where the call's log lines go: a handler, or false for nowhere. Default: this console, prefixed. */
  onLog?: LogHandler | false | undefined;
  /** Where the call's progress events (queued, installing, downloading, running, done) go: a handler, or false for nowhere. Default: a status line on this console. */
  onProgress?: ProgressHandler | false | undefined;
  /** Validates the result (and narrows its type). */
  schema?: z.ZodType | undefined;
  /**
   * Checks each result (and each streamed value) against the Python annotations `ferry types`
   * read; a mismatch rejects with ResultValidationError naming the path and the expected type.
   * Needs a function or class from a generated module.
   */
  validate?: boolean | undefined;
}

export const CallOptionsSchema = z.object({
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal, "must be an AbortSignal").optional(),
  timeoutMs: z.number().int().positive().max(7 * 86_400_000).optional(),
  onLog: z.union([z.literal(false), z.custom<LogHandler>((v) => typeof v === "function", "must be a function or false")]).optional(),
  onProgress: z.union([z.literal(false), z.custom<ProgressHandler>((v) => typeof v === "function", "must be a function or false")]).optional(),
  schema: z.custom<z.ZodType>((v) => v instanceof z.ZodType, "must be a zod schema").optional(),
  validate: z.boolean().optional(),
});

/** The element type `.stream()` yields: a generator declared as returning `T[]` yields `T`. */
export type Yielded<R> = R extends readonly (infer Y)[] ? Y : R extends AsyncIterable<infer Y> ? Y : R;

/**
 * A remote Python function (or class method): call it like an async function, or use `.call()`
 * for the value with job id, timings and stdout, `.stream()` for a generator's values as they
 * come, and `.with(options)` for per-call options. `Y` is what `.stream()` yields: a generated
 * signature says it exactly, otherwise it follows from `R`.
 *
 * @example
 * ```ts
 * const count = py.function<[n: number], number[]>("def count(n):\n    yield from range(n)\n", "count");
 * for await (const i of count.stream(3)) console.log(i); // 0, 1, 2
 * const { value, jobId, timings } = await count.with({ timeoutMs: 30_000 }).call(3);
 * ```
 */
export interface RemoteCallable<Args extends unknown[], R, K extends Record<string, unknown> = Record<string, unknown>, Y = Yielded<R>> {
  /** Runs the call and resolves with its value. */
  (...args: CallArgs<Args, K>): Promise<R>;
  /** Runs the call and resolves with its value plus job id, worker id, timings and captured stdout. */
  call(...args: CallArgs<Args, K>): Promise<CallResult<R>>;
  /** Yields each value a Python generator yields, as it yields it (a plain function's value once). */
  stream(...args: CallArgs<Args, K>): AsyncGenerator<Y, CallInfo, undefined>;
  /** The same callable with these call options (merged over the current ones). */
  with<S extends z.ZodType>(options: CallOptions & { schema: S }): RemoteCallable<Args, z.output<S>, K>;
  /** The same callable with these call options (merged over the current ones). */
  with(options: CallOptions): RemoteCallable<Args, R, K, Y>;
  /** `embed`, or `Model.generate`. */
  readonly label: string;
}

/** A remote Python function. `Args` are its positional parameters, `R` its return type, `K` its keyword arguments. */
export type RemoteFunction<Args extends unknown[], R, K extends Record<string, unknown> = Record<string, unknown>, Y = Yielded<R>> = RemoteCallable<Args, R, K, Y>;

/** The annotations of a callable from a generated module, which `validate: true` checks against. */
export interface Annotations {
  signature: FunctionSignature;
  /** The module's TypedDicts, dataclasses and NamedTuples. */
  types: Record<string, NamedType>;
}

/** What a callable needs from its owner (a function definition, or a class instance handle). */
export interface CallableTarget {
  label: string;
  resource: Resource;
  /** The request for these already-encoded arguments. */
  request(args: EncodedArg[], kwargs: Record<string, EncodedArg>, streaming: boolean): FunctionRequestInput | Promise<FunctionRequestInput>;
  /** Sees every successful outcome (class handles track their instance here). */
  observe?(outcome: Outcome): void;
  /** Throws when calls are no longer allowed (a destroyed instance). */
  check?(): void;
  annotations?: Annotations | undefined;
}

/** Positional arguments and the keyword arguments of a trailing `kwargs({...})`. */
function splitCallArgs(args: readonly unknown[]): { positional: unknown[]; keywords: Record<string, unknown> } {
  const { positional, keywords } = splitArgs(args);
  positional.forEach((value, i) => {
    if (isKwargs(value)) throw new ConfigError(`args[${i}]: kwargs({...}) must be the last argument`);
  });
  return { positional, keywords };
}

/** Inline arguments (constructor arguments, which every call of an instance carries again). */
export function encodeArgs(args: readonly unknown[]): { args: string[]; kwargs: Record<string, string> } {
  const { positional, keywords } = splitCallArgs(args);
  return {
    args: positional.map((value, i) => encodeBase64(value, `args[${i}]`)),
    kwargs: Object.fromEntries(Object.entries(keywords).map(([key, value]) => [key, encodeBase64(value, `kwargs.${key}`)])),
  };
}

/** Schemas of a callable's result and of each value it streams, from its annotations. */
function annotationSchemas(annotations: Annotations): { result: z.ZodType; yields: z.ZodType } {
  const { signature, types } = annotations;
  const yields = schemaOf(signature.result, types);
  return { yields, result: signature.generator ? z.array(yields) : yields };
}

function checkAnnotated(schema: z.ZodType, value: unknown, path: string, jobId: string | undefined, label: string): void {
  const parsed = schema.safeParse(value);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  const where = `${path}${(issue?.path ?? []).map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`;
  throw new ResultValidationError(`${label}: ${where}: ${issue?.message ?? "does not match its annotation"}`, value, jobId);
}

function validate(schema: z.ZodType | undefined, value: unknown, jobId: string, label: string): unknown {
  if (!schema) return value;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `result.${issue.path.join(".")}` : "result";
  throw new ResultValidationError(`${label}: the result does not match its schema: ${where}: ${issue?.message ?? "invalid"}`, value, jobId);
}

/** A call's abort, timeout, log and progress options, the process-wide defaults filled in. */
export function controlOptionsOf(options: CallOptions): CallControlOptions {
  const defaults = getRuntime().options;
  return { signal: options.signal, timeoutMs: options.timeoutMs, onLog: options.onLog ?? defaults.onLog, onProgress: options.onProgress ?? defaults.onProgress };
}

export function makeCallable<Args extends unknown[], R, K extends Record<string, unknown>, Y = Yielded<R>>(target: CallableTarget, options: CallOptions = {}): RemoteCallable<Args, R, K, Y> {
  if (options.validate && !target.annotations)
    throw new ConfigError(`${target.label}.with({ validate: true }): there are no annotations to check against; define it from the module \`ferry types\` generates (fromFile(module, name))`);
  const annotated = options.validate && target.annotations ? annotationSchemas(target.annotations) : undefined;
  const controlOptions = () => controlOptionsOf(options);

  /** The request, with its large values stored as blobs; `values` reads the answer's and deletes them all. */
  const prepare = async (args: readonly unknown[], streaming: boolean): Promise<{ input: FunctionRequestInput; values: CallValues }> => {
    target.check?.();
    const { positional, keywords } = splitCallArgs(args);
    const values = await getRuntime().callValues(target.resource, streaming);
    try {
      const encoded = await values.encodeArgs(positional, keywords, options.signal);
      const input = { ...(await target.request(encoded.args, encoded.kwargs, streaming)) };
      const outputs = await values.outputs(options.signal);
      if (outputs) input.blob_outputs = outputs;
      values.checkRequestSize(input);
      return { input, values };
    } catch (error) {
      values.release();
      throw error;
    }
  };

  const details = async (args: readonly unknown[]): Promise<CallResult<R>> => {
    const { input, values } = await prepare(args, false);
    try {
      const runtime = getRuntime();
      const outcome = await invoke({ endpoint: () => runtime.endpoint(target.resource), input, options: controlOptions(), label: target.label });
      target.observe?.(outcome);
      const decoded = await values.decode(outcome.result, "result", options.signal);
      if (annotated) checkAnnotated(annotated.result, decoded, "result", outcome.jobId, target.label);
      const value = validate(options.schema, decoded, outcome.jobId, target.label) as R;
      const { result: _encoded, ...info } = outcome;
      return { ...info, value };
    } finally {
      values.release();
    }
  };

  const callable = (async (...args: unknown[]) => (await details(args)).value) as unknown as RemoteCallable<Args, R, K, Y>;

  async function* stream(...args: unknown[]): AsyncGenerator<Y, CallInfo, undefined> {
    const { input, values } = await prepare(args, true);
    try {
      const runtime = getRuntime();
      const generator = invokeStream({ endpoint: () => runtime.endpoint(target.resource), input, options: controlOptions(), label: target.label });
      let index = 0;
      let step = await generator.next();
      try {
        while (!step.done) {
          const path = `yield[${index++}]`;
          const value = await values.decode(step.value, path, options.signal);
          if (annotated) checkAnnotated(annotated.yields, value, path, undefined, target.label);
          yield value as Y;
          step = await generator.next();
        }
      } finally {
        if (!step.done) await generator.return(undefined as never);
      }
      const outcome = step.value;
      target.observe?.(outcome);
      // A plain function streamed: its value (unless None) is the one item.
      if (index === 0) {
        const value = await values.decode(outcome.result, "result", options.signal);
        if (annotated && !target.annotations?.signature.generator) checkAnnotated(annotated.yields, value, "result", outcome.jobId, target.label);
        if (value !== null) yield value as Y;
      }
      const { result: _encoded, ...info } = outcome;
      return info;
    } finally {
      values.release();
    }
  }

  Object.defineProperties(callable, {
    call: { value: (...args: unknown[]) => details(args) },
    stream: { value: stream },
    with: {
      value: (next: CallOptions) => makeCallable(target, { ...options, ...parseOptions(CallOptionsSchema, next, `${target.label}.with()`) }),
    },
    label: { value: target.label },
    name: { value: target.label },
  });
  return callable;
}
