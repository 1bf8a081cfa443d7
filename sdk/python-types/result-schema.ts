/**
 * zod schemas from the signatures of a generated module, for `.with({ validate: true })`: a
 * result (or a yielded value) that does not match its Python annotation fails with the path and
 * the expected type (`result.stats.mean: expected number (Python float), got string`).
 */
import { z } from "zod";
import { renderType, TYPED_ARRAY_OF } from "./declarations.ts";
import type { NamedType, TypeNode } from "./signatures.ts";

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a Date";
  if (value instanceof Map) return "a Map";
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return typeof value;
}

function expected(node: TypeNode): { error: (issue: { input?: unknown }) => string } {
  const python = node.py ? ` (Python ${node.py})` : "";
  return { error: (issue) => `expected ${renderType(node)}${python}, got ${describe(issue.input)}` };
}

const TYPED_ARRAYS: Record<string, new (...args: never[]) => unknown> = {
  Float32Array,
  Float64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  BigInt64Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
  BigUint64Array,
};

/** The schema of a value of this Python type; `types` are the module's TypedDicts, dataclasses and NamedTuples. */
export function schemaOf(node: TypeNode, types: Record<string, NamedType>, named = new Map<string, z.ZodType>()): z.ZodType {
  const e = expected(node);
  const of = (n: TypeNode) => schemaOf(n, types, named);
  switch (node.k) {
    case "int":
      return z.union([z.number().int(), z.bigint()], e);
    case "float":
      return z.number(e);
    case "str":
    case "date":
      return z.string(e);
    case "bool":
      return z.boolean(e);
    case "bytes":
      return z.instanceof(Uint8Array, e);
    case "none":
      return z.null(e);
    case "datetime":
      return z.date(e);
    case "list":
      return z.array(of(node.of), e);
    case "tuple":
      return z.tuple(node.items.map(of) as [z.ZodType, ...z.ZodType[]], e);
    case "record":
      return z.record(z.string(), of(node.of), e);
    case "map":
      return z.map(of(node.key), of(node.of), e);
    case "union":
      return z.union(node.of.map(of), e);
    case "literal":
      return z.literal(node.values, e);
    case "ndarray": {
      const ctor = node.dtype ? TYPED_ARRAYS[TYPED_ARRAY_OF[node.dtype] ?? ""] : undefined;
      return z.custom((v) => (ctor ? v instanceof ctor : ArrayBuffer.isView(v) && !(v instanceof DataView)) && Array.isArray((v as { shape?: unknown }).shape), e);
    }
    case "ref": {
      const type = types[node.name];
      if (!type) return z.unknown();
      let schema = named.get(node.name);
      if (!schema) {
        // Lazy, so a type that refers to itself (a tree of dataclasses) terminates.
        schema = z.lazy(() => namedSchema(type, node, types, named));
        named.set(node.name, schema);
      }
      return schema;
    }
    case "unknown":
      return z.unknown();
  }
}

function namedSchema(type: NamedType, node: TypeNode, types: Record<string, NamedType>, named: Map<string, z.ZodType>): z.ZodType {
  const e = expected(node);
  if (type.kind === "tuple") return z.tuple(type.fields.map((f) => schemaOf(f.type, types, named)) as [z.ZodType, ...z.ZodType[]], e);
  // Extra keys are left alone: validation checks what the annotation promises, it does not reshape the value.
  return z.looseObject(Object.fromEntries(type.fields.map((f) => [f.name, f.optional ? schemaOf(f.type, types, named).optional() : schemaOf(f.type, types, named)])), e);
}
