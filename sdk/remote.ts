/**
 * `remote(resource, options)`: the entry point. It binds Python code (inline, or a file plus a
 * name) to a resource and the packages the code needs, and gives typed remote functions and
 * classes:
 *
 *     const embed = remote(gpu, { dependencies: ["sentence-transformers"] })
 *       .fromFile<[texts: string[]], number[][]>("py/embed.py", "embed");
 *     const vectors = await embed(["hello"]);
 *
 * Files are read when the function is defined, so a wrong path fails at once, not on the
 * first call. `modules` ships sibling Python files the code imports.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { aptPackageProblem, pipRequirementProblem, ruleOptionsFromEnv } from "../protocol/request-rules.ts";
import type { FunctionRequestInput } from "../protocol/wire.ts";
import { makeRemoteClass, type RemoteClass } from "./cls.ts";
import { ConfigError } from "./errors.ts";
import { makeCallable, type RemoteFunction } from "./function.ts";
import { parseOptions } from "./options.ts";
import { Resource } from "./resources.ts";

export interface RemoteOptions {
  /** pip requirements (PEP 508), installed on the worker when missing. */
  dependencies?: string[];
  /** apt packages, installed on the worker when missing. */
  systemDependencies?: string[];
  /** Hugging Face repo ids downloaded to the worker's cache before the call. */
  hfModels?: string[];
  /** Only model files matching one of these fnmatch patterns are cached, e.g. `["*.safetensors", "*.json"]`. */
  hfAllowPatterns?: string[];
  /** Model files matching one of these are skipped, e.g. `["*.bin"]` when safetensors exist. */
  hfIgnorePatterns?: string[];
  /** Faster installers and parallel downloads (uv, nala). Default true. */
  accelerateDownloads?: boolean;
  /**
   * Python modules the code imports, shipped with every call and put on `sys.path`: file
   * paths (named by their path relative to the main file's folder, or their base name for
   * inline code), or a map of module path to source (`{"utils/text.py": "..."}`).
   */
  modules?: string[] | Record<string, string>;
}

/** Each entry by the shared request rules, so the SDK refuses before sending what the worker would refuse. */
const ruledList = (check: (entry: string) => string | undefined) =>
  z
    .array(z.string())
    .superRefine((entries, ctx) => {
      entries.forEach((entry, i) => {
        const reason = check(entry);
        if (reason) ctx.addIssue({ code: "custom", path: [i], message: `${JSON.stringify(entry)} ${reason}` });
      });
    })
    .transform((entries) => entries.map((entry) => entry.trim()))
    .default([]);

const RemoteOptionsSchema = z.object({
  dependencies: ruledList((entry) => pipRequirementProblem(entry, ruleOptionsFromEnv())),
  systemDependencies: ruledList(aptPackageProblem),
  hfModels: z.array(z.string().regex(/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?(@[\w./-]+)?$/, "must be a Hugging Face repo id like org/name")).default([]),
  hfAllowPatterns: z.array(z.string().min(1)).default([]),
  hfIgnorePatterns: z.array(z.string().min(1)).default([]),
  accelerateDownloads: z.boolean().default(true),
  modules: z.union([z.array(z.string().min(1)), z.record(z.string().min(1), z.string())]).optional(),
});

function toPath(path: string | URL): string {
  return path instanceof URL ? fileURLToPath(path) : resolve(path);
}

function readSource(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`${what}: cannot read ${path}${code ? ` (${code})` : ""}`);
  }
}

/**
 * How tracebacks name a source file: relative to the working directory (the caller's project)
 * with forward slashes, so an editor's terminal can open it at the line; absolute when outside.
 */
function codeFileName(file: string): string {
  const rel = relative(process.cwd(), file);
  const name = rel && !rel.startsWith("..") ? rel : file;
  return name.split("\\").join("/").slice(-512);
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class Remote {
  private readonly options: z.output<typeof RemoteOptionsSchema>;

  constructor(
    readonly resource: Resource,
    options: RemoteOptions = {},
  ) {
    if (!(resource instanceof Resource)) throw new ConfigError("remote(): the first argument must be a resource (new LiveServerless({...}), new CpuLiveServerless({...}), ...)");
    this.options = parseOptions(RemoteOptionsSchema, options, "remote()");
  }

  private modules(mainFile: string | undefined): Record<string, string> {
    const given = this.options.modules;
    if (!given) return {};
    if (!Array.isArray(given)) return { ...given };
    const out: Record<string, string> = {};
    for (const entry of given) {
      const path = resolve(entry);
      const key = mainFile ? relative(dirname(mainFile), path) : basename(path);
      if (key.startsWith("..")) throw new ConfigError(`remote(): module ${entry} is outside the folder of ${mainFile}; give modules as { "name.py": source } instead`);
      out[key.split("\\").join("/")] = readSource(path, "remote() modules");
    }
    return out;
  }

  private base(mainFile: string | undefined): Partial<FunctionRequestInput> {
    return {
      serialization_format: "msgpack",
      dependencies: this.options.dependencies,
      system_dependencies: this.options.systemDependencies,
      hf_models_to_cache: this.options.hfModels,
      hf_allow_patterns: this.options.hfAllowPatterns,
      hf_ignore_patterns: this.options.hfIgnorePatterns,
      accelerate_downloads: this.options.accelerateDownloads,
      modules: this.modules(mainFile),
      ...(mainFile ? { code_file: codeFileName(mainFile) } : {}),
    };
  }

  private checkName(name: string, what: string): void {
    if (typeof name !== "string" || !IDENTIFIER.test(name)) throw new ConfigError(`${what}: ${JSON.stringify(name)} is not a Python identifier`);
  }

  private fn<Args extends unknown[], R, K extends Record<string, unknown>>(code: string, name: string, file: string | undefined): RemoteFunction<Args, R, K> {
    const base = this.base(file);
    return makeCallable<Args, R, K>({
      label: name,
      resource: this.resource,
      request: (args, kwargs, streaming) => ({
        ...base,
        execution_type: "function",
        function_name: name,
        function_code: code,
        args,
        kwargs,
        return_aggregate_stream: !streaming,
      }),
    });
  }

  /** A function defined in inline Python source. */
  function<Args extends unknown[] = unknown[], R = unknown, K extends Record<string, unknown> = Record<string, unknown>>(code: string, name: string): RemoteFunction<Args, R, K> {
    this.checkName(name, ".function()");
    if (typeof code !== "string" || !code.trim()) throw new ConfigError(`.function(): the Python source for ${name} is empty`);
    return this.fn<Args, R, K>(code, name, undefined);
  }

  /** A function defined in a Python file (path relative to the working directory, or a file URL). */
  fromFile<Args extends unknown[] = unknown[], R = unknown, K extends Record<string, unknown> = Record<string, unknown>>(path: string | URL, name: string): RemoteFunction<Args, R, K> {
    this.checkName(name, ".fromFile()");
    const file = toPath(path);
    return this.fn<Args, R, K>(readSource(file, ".fromFile()"), name, file);
  }

  /** A class defined in inline Python source. `Ctor` types the constructor's arguments. */
  class<Api, Ctor extends unknown[] = unknown[], CtorKw extends Record<string, unknown> = Record<string, unknown>>(code: string, name: string): RemoteClass<Api, Ctor, CtorKw> {
    this.checkName(name, ".class()");
    if (typeof code !== "string" || !code.trim()) throw new ConfigError(`.class(): the Python source for ${name} is empty`);
    return makeRemoteClass<Api, Ctor, CtorKw>({ resource: this.resource, className: name, classCode: code, base: this.base(undefined) });
  }

  /** A class defined in a Python file. */
  classFromFile<Api, Ctor extends unknown[] = unknown[], CtorKw extends Record<string, unknown> = Record<string, unknown>>(path: string | URL, name: string): RemoteClass<Api, Ctor, CtorKw> {
    this.checkName(name, ".classFromFile()");
    const file = toPath(path);
    return makeRemoteClass<Api, Ctor, CtorKw>({ resource: this.resource, className: name, classCode: readSource(file, ".classFromFile()"), base: this.base(file) });
  }
}

export function remote(resource: Resource, options: RemoteOptions = {}): Remote {
  return new Remote(resource, options);
}
