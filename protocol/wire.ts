/**
 * The wire schema: the job input (FunctionRequest) and output (FunctionResponse).
 *
 * The one module the handler and the SDK share. It is a superset of RunPod's Python
 * remote-execution protocol, so jobs from RunPod's Python SDK run unchanged; Ferry adds the
 * `msgpack` serialization format and a few optional fields (marked "Ferry" below). Unknown keys
 * are ignored (zod strips them), and a failed validation becomes a readable one-line message.
 */
import { z } from "zod";
import type { WorkerProgress } from "./progress.ts";
import { BlobInputRefSchema, BlobOutputRefSchema, BlobOutputsSchema } from "./blob-ref.ts";

export const SERIALIZATION_FORMATS = ["cloudpickle", "json", "msgpack"] as const;
export type SerializationFormat = (typeof SERIALIZATION_FORMATS)[number];

/** `execution_type: "destroy"` (Ferry) drops the class instance named by `instance_id`. */
export const EXECUTION_TYPES = ["function", "class", "destroy"] as const;
export type ExecutionType = (typeof EXECUTION_TYPES)[number];

/** Optional lists and maps may arrive as null from other clients; null means "not given". */
const list = <T extends z.ZodTypeAny>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((v) => v ?? []);
const record = <T extends z.ZodTypeAny>(value: T) =>
  z
    .record(z.string(), value)
    .nullish()
    .transform((v) => v ?? {});
const optionalString = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);

/** Python names and instance ids; longer ones are refused rather than echoed back in errors. */
const MAX_NAME_LENGTH = 256;
const name = z
  .string()
  .max(MAX_NAME_LENGTH)
  .nullish()
  .transform((v) => v ?? undefined);

export const FunctionRequestSchema = z
  .object({
    execution_type: z.enum(EXECUTION_TYPES).default("function"),
    function_name: name,
    function_code: optionalString,
    class_name: name,
    class_code: optionalString,
    method_name: z
      .string()
      .min(1)
      .max(MAX_NAME_LENGTH)
      .nullish()
      .transform((v) => v ?? "__call__"),
    instance_id: name,
    create_new_instance: z
      .boolean()
      .nullish()
      .transform((v) => v ?? true),
    /** cloudpickle and msgpack: one base64 string per item. json: the values themselves. */
    args: list(z.unknown()),
    kwargs: record(z.unknown()),
    constructor_args: list(z.unknown()),
    constructor_kwargs: record(z.unknown()),
    dependencies: list(z.string()),
    system_dependencies: list(z.string()),
    accelerate_downloads: z
      .boolean()
      .nullish()
      .transform((v) => v ?? true),
    hf_models_to_cache: list(z.string()),
    /** Ferry: only model files matching one of these fnmatch patterns are cached (huggingface_hub's allow_patterns). */
    hf_allow_patterns: list(z.string().min(1).max(200)),
    /** Ferry: model files matching one of these are not cached (huggingface_hub's ignore_patterns). */
    hf_ignore_patterns: list(z.string().min(1).max(200)),
    serialization_format: z
      .enum(SERIALIZATION_FORMATS)
      .nullish()
      .transform((v) => v ?? "cloudpickle"),
    /**
     * Ferry: the file function_code / class_code came from, relative to the caller's project;
     * tracebacks name it (absent: the function's or class's name in angle brackets).
     */
    code_file: z.string().min(1).max(512).regex(/^[^\0\n\r]+$/, "must be one line").nullish().transform((v) => v ?? undefined),
    /** Relative path -> Python source, put on sys.path for the call. */
    modules: record(z.string()),
    /** Ferry: per-job timeout for the Python call; the worker default applies when absent. */
    timeout_ms: z.number().int().positive().max(86_400_000).nullish().transform((v) => v ?? undefined),
    /** Ferry: where values too large to answer inline go (PUT URLs, used in order), and from what size. */
    blob_outputs: BlobOutputsSchema.nullish().transform((v) => v ?? undefined),
    /** Ferry: for generator calls, also return every yielded value in `result`. */
    return_aggregate_stream: z
      .boolean()
      .nullish()
      .transform((v) => v ?? false),
  })
  .superRefine((req, ctx) => {
    const need = (field: "function_name" | "class_name" | "instance_id", why: string) => {
      if (!req[field]) ctx.addIssue({ code: "custom", path: [field], message: `is required ${why}` });
    };
    if (req.execution_type === "function") need("function_name", 'when execution_type is "function"');
    if (req.execution_type === "class") need("class_name", 'when execution_type is "class"');
    if (req.execution_type === "destroy") need("instance_id", 'when execution_type is "destroy"');
    if (req.serialization_format !== "json") {
      const base64Items = (field: "args" | "constructor_args", items: unknown[]) =>
        items.forEach((item, i) => {
          if (typeof item !== "string" && !BlobInputRefSchema.safeParse(item).success)
            ctx.addIssue({
              code: "custom",
              path: [field, i],
              message: `must be a base64 string (or a ferry_blob reference) under serialization_format "${req.serialization_format}"`,
            });
        });
      const base64Values = (field: "kwargs" | "constructor_kwargs", values: Record<string, unknown>) =>
        Object.entries(values).forEach(([key, item]) => {
          if (typeof item !== "string" && !BlobInputRefSchema.safeParse(item).success)
            ctx.addIssue({
              code: "custom",
              path: [field, key],
              message: `must be a base64 string (or a ferry_blob reference) under serialization_format "${req.serialization_format}"`,
            });
        });
      base64Items("args", req.args);
      base64Items("constructor_args", req.constructor_args);
      base64Values("kwargs", req.kwargs);
      base64Values("constructor_kwargs", req.constructor_kwargs);
    }
  });

/** The request as the client writes it (defaults optional). */
export type FunctionRequestInput = z.input<typeof FunctionRequestSchema>;
/** The request after validation (defaults filled in). */
export type FunctionRequest = z.output<typeof FunctionRequestSchema>;

export const InstanceInfoSchema = z.object({
  class_name: z.string(),
  created_at: z.string(),
  method_calls: z.number().int(),
  last_used: z.string(),
  /** Ferry: this job constructed the instance. */
  created: z.boolean().optional(),
  /** Ferry: the instance was constructed again because this worker did not hold it. */
  rebuilt: z.boolean().optional(),
});
export type InstanceInfo = z.infer<typeof InstanceInfoSchema>;

export const GpuInfoSchema = z.object({
  index: z.number().int(),
  name: z.string(),
  memory_total_mib: z.number().nullable(),
  memory_used_mib: z.number().nullable(),
  driver_version: z.string().nullable(),
  compute_cap: z.string().nullable(),
});
export type GpuInfo = z.infer<typeof GpuInfoSchema>;

export const TimingsSchema = z.object({
  queue_ms: z.number().optional(),
  validate_ms: z.number().optional(),
  install_ms: z.number().optional(),
  model_download_ms: z.number().optional(),
  execute_ms: z.number().optional(),
  total_ms: z.number().optional(),
});
export type Timings = z.infer<typeof TimingsSchema>;

export const FunctionResponseSchema = z.object({
  success: z.boolean(),
  /** cloudpickle / msgpack: base64 of the serialized result, or a reference to the blob output it was written to. */
  result: z.union([z.string(), BlobOutputRefSchema]).nullish(),
  /** json format: the result itself. */
  json_result: z.unknown().optional(),
  /** Message and traceback. */
  error: z.string().nullish(),
  /** Ferry: the Python exception class, or a worker category (Timeout, Cancelled, ...). */
  error_type: z.string().nullish(),
  stdout: z.string().nullish(),
  instance_id: z.string().nullish(),
  instance_info: InstanceInfoSchema.nullish(),
  /** Ferry: how many values a generator call streamed; present for every generator call, absent for other calls. */
  stream_count: z.number().int().optional(),
  /** Ferry: where the time went. */
  timings: TimingsSchema.optional(),
  /** Ferry: worker, GPU, dependency and model reports. */
  details: z.record(z.string(), z.unknown()).optional(),
});
export type FunctionResponse = z.infer<typeof FunctionResponseSchema>;

/**
 * Items a Ferry worker streams for a job: a live log line, one value a generator yielded
 * (encoded like `result`: base64 or a blob reference for cloudpickle/msgpack, the value itself
 * for json), or a progress event (`protocol/progress.ts`).
 */
export type StreamItem = { log: LogLine } | { value: unknown } | { progress: WorkerProgress };
export interface LogLine {
  /** "stdout", "stderr" or "log" (a logging record) of the user code; "worker" for the worker's own progress. */
  stream: "stdout" | "stderr" | "log" | "worker";
  line: string;
  job_id?: string;
  /** The worker that printed it. */
  worker_id?: string;
}

/** "args[0]: must be a base64 string ...; function_name: is required ..." */
export function formatValidationError(error: z.ZodError, prefix = ""): string {
  const parts = error.issues.slice(0, 10).map((issue) => {
    const path = issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
    const where = prefix ? (path ? `${prefix}.${path}` : prefix) : path || "input";
    return `${where}: ${issue.message}`;
  });
  if (error.issues.length > 10) parts.push(`(${error.issues.length - 10} more problems)`);
  return parts.join("; ");
}

export type ParseResult = { ok: true; request: FunctionRequest } | { ok: false; error: string };

/** Deeper values are refused: Python's msgpack stops at a depth near 1000, and JSON nesting that deep is never data. */
export const MAX_INPUT_DEPTH = 256;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * What zod does not check: strings that are not valid Unicode (a lone surrogate cannot be
 * encoded as UTF-8 for Python) and nesting too deep to pass. Iterative, so depth cannot
 * overflow the stack here either. Returns the path of the first problem.
 */
function findUnsendable(input: unknown): string | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: input, path: "input", depth: 0 }];
  while (stack.length) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === "string") {
      if (LONE_SURROGATE.test(value)) return `${path}: is not valid Unicode (a lone surrogate)`;
    } else if (value !== null && typeof value === "object") {
      if (depth >= MAX_INPUT_DEPTH) return `${path}: nested deeper than ${MAX_INPUT_DEPTH} levels`;
      const entries = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v] as const) : Object.entries(value).map(([k, v]) => [`.${k}`, v] as const);
      for (const [key, child] of entries) {
        if (!Array.isArray(value) && LONE_SURROGATE.test(key)) return `${path}: a key is not valid Unicode (a lone surrogate)`;
        stack.push({ value: child, path: `${path}${key}`, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

export function parseFunctionRequest(input: unknown): ParseResult {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    const got = input === null ? "null" : Array.isArray(input) ? "an array" : typeof input;
    return { ok: false, error: `Invalid job input: expected an object (a FunctionRequest), got ${got}` };
  }
  const unsendable = findUnsendable(input);
  if (unsendable) return { ok: false, error: `Invalid job input: ${unsendable.slice(0, 300)}` };
  const parsed = FunctionRequestSchema.safeParse(input);
  if (!parsed.success) return { ok: false, error: `Invalid job input: ${formatValidationError(parsed.error)}` };
  return { ok: true, request: parsed.data };
}
