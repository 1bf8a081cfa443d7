/**
 * The signatures `read_annotations.py` reads from Python files: a small tree per annotation
 * (see the script's docstring). The same tree travels inside each generated module, so run-time
 * validation (`.with({ validate: true })`) checks results against exactly what the declarations
 * say. Both ways in (the script's stdout, a generated module) are parsed with these schemas.
 */
import { z } from "zod";

export type TypeNode =
  | { k: "int" | "float" | "str" | "bool" | "bytes" | "none" | "datetime" | "date"; py?: string }
  | { k: "list"; of: TypeNode; py?: string }
  | { k: "tuple"; items: TypeNode[]; py?: string }
  | { k: "record"; of: TypeNode; py?: string }
  | { k: "map"; key: TypeNode; of: TypeNode; py?: string }
  | { k: "union"; of: TypeNode[]; py?: string }
  | { k: "literal"; values: (string | number | boolean | null)[]; py?: string }
  | { k: "ref"; name: string; py?: string }
  | { k: "ndarray"; dtype: string | null; py?: string }
  | { k: "unknown"; note?: string; py?: string };

export const TypeNodeSchema: z.ZodType<TypeNode> = z.lazy(() =>
  z.discriminatedUnion("k", [
    z.object({ k: z.enum(["int", "float", "str", "bool", "bytes", "none", "datetime", "date"]), py: z.string().optional() }),
    z.object({ k: z.literal("list"), of: TypeNodeSchema, py: z.string().optional() }),
    z.object({ k: z.literal("tuple"), items: z.array(TypeNodeSchema), py: z.string().optional() }),
    z.object({ k: z.literal("record"), of: TypeNodeSchema, py: z.string().optional() }),
    z.object({ k: z.literal("map"), key: TypeNodeSchema, of: TypeNodeSchema, py: z.string().optional() }),
    z.object({ k: z.literal("union"), of: z.array(TypeNodeSchema), py: z.string().optional() }),
    z.object({ k: z.literal("literal"), values: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])), py: z.string().optional() }),
    z.object({ k: z.literal("ref"), name: z.string(), py: z.string().optional() }),
    z.object({ k: z.literal("ndarray"), dtype: z.string().nullable(), py: z.string().optional() }),
    z.object({ k: z.literal("unknown"), note: z.string().optional(), py: z.string().optional() }),
  ]),
);

const ParamSchema = z.object({
  name: z.string(),
  /** positional: before `/`; both: positional or keyword; keyword: after `*`; varargs: `*args`; varkw: `**kwargs`. */
  kind: z.enum(["positional", "both", "keyword", "varargs", "varkw"]),
  optional: z.boolean(),
  type: TypeNodeSchema,
});
export type Param = z.output<typeof ParamSchema>;

const FunctionSchema = z.object({
  name: z.string(),
  line: z.number().int(),
  async: z.boolean(),
  generator: z.boolean(),
  params: z.array(ParamSchema),
  /** The return type; for a generator, the type of each value it yields. */
  result: TypeNodeSchema,
});
export type FunctionSignature = z.output<typeof FunctionSchema>;

const ClassSchema = z.object({
  name: z.string(),
  line: z.number().int(),
  /** null: inherited from a class the file does not define, so unknown. */
  init: z.array(ParamSchema).nullable(),
  methods: z.array(FunctionSchema),
});
export type ClassSignature = z.output<typeof ClassSchema>;

const FieldSchema = z.object({ name: z.string(), type: TypeNodeSchema, optional: z.boolean(), default: z.boolean() });
const NamedTypeSchema = z.object({ kind: z.enum(["object", "tuple"]), fields: z.array(FieldSchema) });
export type NamedType = z.output<typeof NamedTypeSchema>;

export const ModuleSignaturesSchema = z.object({
  functions: z.array(FunctionSchema),
  classes: z.array(ClassSchema),
  /** TypedDicts, dataclasses and NamedTuples of the file, by name. */
  types: z.record(z.string(), NamedTypeSchema),
});
export type ModuleSignatures = z.output<typeof ModuleSignaturesSchema>;

export const ReadResultSchema = z.array(
  z.union([
    z.object({ path: z.string(), module: ModuleSignaturesSchema }),
    z.object({ path: z.string(), error: z.object({ line: z.number().int(), column: z.number().int(), message: z.string() }) }),
  ]),
);
export type ReadResult = z.output<typeof ReadResultSchema>[number];
