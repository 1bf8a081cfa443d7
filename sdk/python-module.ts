/**
 * Generated Python modules: `ferry types` turns `name.py` into `name.ferry.js` (the file's URL
 * and its signatures) and `name.ferry.d.ts` (their TypeScript types). Passing the imported
 * module to `.fromFile()` / `.classFromFile()` types the call from the Python's annotations, with
 * no generics written by hand:
 *
 *     import text from "./py/text.ferry.js";
 *     const slugify = remote(cpu).fromFile(text, "slugify"); // (title: string, kwargs?) => Promise<string>
 */
import { ConfigError } from "./errors.ts";
import { ModuleSignaturesSchema, type ClassSignature, type FunctionSignature, type ModuleSignatures } from "./python-types/signatures.ts";

/** One function's (or method's) types: positional arguments, keyword arguments, result, and what `.stream()` yields. */
export interface PythonSignature {
  args: unknown[];
  kwargs: Record<string, unknown>;
  result: unknown;
  yields: unknown;
}

/** One class's types: its constructor's arguments and each method's {@link PythonSignature}. */
export interface PythonClassSignature {
  init: { args: unknown[]; kwargs: Record<string, unknown> };
  methods: Record<string, PythonSignature>;
}

/** The types of one Python file, as `ferry types` writes them: its functions and classes by name. */
export interface PythonModuleTypes {
  functions: Record<string, PythonSignature>;
  classes: Record<string, PythonClassSignature>;
}

/** What a generated `name.ferry.js` exports by default. `types` exists only for the type checker. */
export interface PythonModule<T extends PythonModuleTypes = PythonModuleTypes> {
  readonly file: URL;
  readonly signatures: unknown;
  readonly types?: T;
}

export type FunctionOf<T extends PythonModuleTypes, N extends keyof T["functions"]> = T["functions"][N];
export type ClassOf<T extends PythonModuleTypes, N extends keyof T["classes"]> = T["classes"][N];

export function isPythonModule(value: unknown): value is PythonModule {
  return typeof value === "object" && value !== null && (value as { file?: unknown }).file instanceof URL && "signatures" in value;
}

const parsed = new WeakMap<PythonModule, ModuleSignatures>();

/** The signatures a generated module carries, checked (a hand-edited or foreign module fails here). */
export function moduleSignatures(module: PythonModule): ModuleSignatures {
  let signatures = parsed.get(module);
  if (signatures) return signatures;
  const result = ModuleSignaturesSchema.safeParse(module.signatures);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${module.file.pathname}: its generated module is not one \`ferry types\` wrote (signatures.${issue?.path.join(".")}: ${issue?.message}); run \`ferry types\` again`);
  }
  signatures = result.data;
  parsed.set(module, signatures);
  return signatures;
}

function names(items: { name: string }[]): string {
  return items.length ? items.map((i) => i.name).join(", ") : "none";
}

export function functionSignature(module: PythonModule, name: string, what: string): FunctionSignature {
  const signatures = moduleSignatures(module);
  const fn = signatures.functions.find((f) => f.name === name);
  if (!fn) throw new ConfigError(`${what}: ${module.file.pathname} has no function ${name} (functions: ${names(signatures.functions)}); if it was added, run \`ferry types\``);
  return fn;
}

export function classSignature(module: PythonModule, name: string, what: string): ClassSignature {
  const signatures = moduleSignatures(module);
  const cls = signatures.classes.find((c) => c.name === name);
  if (!cls) throw new ConfigError(`${what}: ${module.file.pathname} has no class ${name} (classes: ${names(signatures.classes)}); if it was added, run \`ferry types\``);
  return cls;
}
