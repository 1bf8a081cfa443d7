/**
 * Turns the signatures of one Python file into its generated module: `x.ferry.d.ts` (the
 * TypeScript types) and `x.ferry.js` (the file's URL and the signatures themselves, which
 * `.with({ validate: true })` checks results against). The mapping follows Ferry's value mapping
 * (docs/python-types.md): what the codec really delivers, `unknown` where nothing is known.
 */
import type { ClassSignature, FunctionSignature, ModuleSignatures, NamedType, Param, TypeNode } from "./signatures.ts";

/** The typed array the codec decodes each numpy dtype to (float16 arrives widened to float32). */
export const TYPED_ARRAY_OF: Record<string, string> = {
  float32: "Float32Array",
  float64: "Float64Array",
  int8: "Int8Array",
  int16: "Int16Array",
  int32: "Int32Array",
  int64: "BigInt64Array",
  uint8: "Uint8Array",
  uint16: "Uint16Array",
  uint32: "Uint32Array",
  uint64: "BigUint64Array",
  bool: "Uint8Array",
};

const HELPERS = `type FerryTypedArray = Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array;
type FerryNdArray<T extends FerryTypedArray> = T & { readonly shape: number[]; readonly dtype: string };`;

/** Names the declarations use themselves; a Python type with one of these names gets a `_` suffix. */
const TAKEN = new Set(["FerryTypedArray", "FerryNdArray", "Record", "Map", "Date", "URL", "Uint8Array", "pythonModule", ...Object.values(TYPED_ARRAY_OF)]);
const RESERVED = new Set(
  "break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with as implements interface let package private protected public static yield any boolean number string symbol type from of async await declare readonly keyof unique infer is asserts unknown never object bigint".split(" "),
);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** How a Python type name is spelled in the declarations. */
export function typeName(name: string): string {
  return TAKEN.has(name) || RESERVED.has(name) ? `${name}_` : name;
}

function label(name: string): string {
  return IDENTIFIER.test(name) && !RESERVED.has(name) ? name : `${name.replace(/[^A-Za-z0-9_$]/g, "_")}_`;
}

function key(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

function comment(text: string): string {
  return text.replace(/\*\//g, "* /");
}

/** A type in TypeScript syntax. */
export function renderType(node: TypeNode): string {
  switch (node.k) {
    case "int":
      return "number | bigint";
    case "float":
      return "number";
    case "str":
    case "date":
      return "string";
    case "bool":
      return "boolean";
    case "bytes":
      return "Uint8Array";
    case "none":
      return "null";
    case "datetime":
      return "Date";
    case "list":
      return `${element(node.of)}[]`;
    case "tuple":
      return `[${node.items.map(renderType).join(", ")}]`;
    case "record":
      return `Record<string, ${renderType(node.of)}>`;
    case "map":
      return `Map<${renderType(node.key)}, ${renderType(node.of)}>`;
    case "union":
      return node.of.map(renderType).join(" | ");
    case "literal":
      return node.values.map((v) => JSON.stringify(v)).join(" | ");
    case "ref":
      return typeName(node.name);
    case "ndarray":
      return `FerryNdArray<${node.dtype && TYPED_ARRAY_OF[node.dtype] ? TYPED_ARRAY_OF[node.dtype] : "FerryTypedArray"}>`;
    case "unknown":
      return node.note ? `unknown /* ${comment(node.note)} */` : "unknown";
  }
}

/** An element of an array type: unions and multi-word types in parentheses. */
function element(node: TypeNode): string {
  const text = renderType(node);
  return node.k === "union" || node.k === "int" || (node.k === "literal" && node.values.length > 1) ? `(${text})` : text;
}

function renderArgs(params: Param[]): string {
  const items: string[] = [];
  for (const p of params) {
    if (p.kind === "positional" || p.kind === "both") items.push(`${label(p.name)}${p.optional ? "?" : ""}: ${renderType(p.type)}`);
    if (p.kind === "varargs") items.push(`...${label(p.name)}: ${element(p.type)}[]`);
  }
  return `[${items.join(", ")}]`;
}

/** Keyword arguments: keyword-only parameters, the defaulted ones that may also go by name, and `**kwargs`. */
function renderKwargs(params: Param[]): string {
  const named = params.filter((p) => p.kind === "keyword" || (p.kind === "both" && p.optional));
  const rest = params.find((p) => p.kind === "varkw");
  const members = named.map((p) => `${key(p.name)}${p.optional ? "?" : ""}: ${renderType(p.type)}`);
  if (rest) {
    // An index signature must admit every named member's type too.
    const types = [...new Set([renderType(rest.type), ...named.map((p) => renderType(p.type)), ...(named.some((p) => p.optional) ? ["undefined"] : [])])];
    members.push(`[key: string]: ${types.join(" | ")}`);
  }
  return members.length ? `{ ${members.join("; ")} }` : "{}";
}

/** A function's (or method's) signature: `{ args; kwargs; result; yields }`. */
export function renderFunction(fn: FunctionSignature): string {
  const yielded = renderType(fn.result);
  const result = fn.generator ? `${element(fn.result)}[]` : yielded;
  return `{ args: ${renderArgs(fn.params)}; kwargs: ${renderKwargs(fn.params)}; result: ${result}; yields: ${yielded} }`;
}

export function renderClass(cls: ClassSignature, indent: string): string {
  const init = cls.init ? `{ args: ${renderArgs(cls.init)}; kwargs: ${renderKwargs(cls.init)} }` : "{ args: unknown[]; kwargs: Record<string, unknown> }";
  const methods = cls.methods.map((m) => `${indent}    /** line ${m.line} */\n${indent}    ${key(m.name)}: ${renderFunction(m)};`);
  const body = methods.length ? `{\n${methods.join("\n")}\n${indent}  }` : "{}";
  return `{\n${indent}  init: ${init};\n${indent}  methods: ${body};\n${indent}}`;
}

export function renderNamedType(name: string, type: NamedType): string {
  if (type.kind === "tuple") return `export type ${typeName(name)} = [${type.fields.map((f) => `${label(f.name)}: ${renderType(f.type)}`).join(", ")}];`;
  const fields = type.fields.map((f) => `  ${key(f.name)}${f.optional ? "?" : ""}: ${renderType(f.type)};`);
  return `export interface ${typeName(name)} {\n${fields.join("\n")}${fields.length ? "\n" : ""}}`;
}

function banner(pythonFile: string): string {
  return `// Generated by \`ferry types\` from ${pythonFile}. Do not edit: change the Python and run \`ferry types\` again.`;
}

/** The `.ferry.d.ts` of a Python file (`pythonFile` is its base name). */
export function renderDeclarations(pythonFile: string, module: ModuleSignatures): string {
  const named = Object.entries(module.types).map(([name, type]) => renderNamedType(name, type));
  const functions = module.functions.map((fn) => `      /** line ${fn.line} */\n      ${key(fn.name)}: ${renderFunction(fn)};`);
  const classes = module.classes.map((cls) => `      /** line ${cls.line} */\n      ${key(cls.name)}: ${renderClass(cls, "      ")};`);
  const block = (lines: string[]) => (lines.length ? `{\n${lines.join("\n")}\n    }` : "{}");
  const body = [
    ...named,
    `declare const pythonModule: {
  readonly file: URL;
  readonly signatures: unknown;
  readonly types?: {
    functions: ${block(functions)};
    classes: ${block(classes)};
  };
};
export default pythonModule;
`,
  ].join("\n");
  return [banner(pythonFile), ...(body.includes("FerryNdArray<") ? [HELPERS] : []), body].join("\n");
}

/** The `.ferry.js` of a Python file: its URL (relative to the generated module) and its signatures. */
export function renderModule(pythonFile: string, module: ModuleSignatures): string {
  return `${banner(pythonFile)}
export default {
  file: new URL(${JSON.stringify(`./${pythonFile}`)}, import.meta.url),
  signatures: ${JSON.stringify(module, null, 2).replace(/\n/g, "\n  ")},
};
`;
}
