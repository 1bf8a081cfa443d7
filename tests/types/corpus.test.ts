/**
 * The mapping from Python annotations to TypeScript, over a corpus of annotated Python
 * (tests/types/corpus/*.py): every row of the value mapping, containers both ways of spelling
 * them, TypedDict / dataclass / NamedTuple, numpy and torch, every parameter kind, generators,
 * async, classes, forward references and `from __future__ import annotations`. Each signature
 * has its expected TypeScript. The generated declarations of the whole corpus must also compile.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderClass, renderFunction, renderNamedType } from "../../sdk/python-types/declarations.ts";
import { generateTypes, readSignatures } from "../../sdk/python-types/generate.ts";
import type { ModuleSignatures } from "../../sdk/python-types/signatures.ts";

const CORPUS = resolve("tests/types/corpus");

/** file -> function name -> `{ args; kwargs; result; yields }` */
const FUNCTIONS: Record<string, Record<string, string>> = {
  "arrays.py": {
    any_array: "{ args: [x: FerryNdArray<FerryTypedArray>]; kwargs: {}; result: FerryNdArray<FerryTypedArray>; yields: FerryNdArray<FerryTypedArray> }",
    f32: "{ args: [x: FerryNdArray<Float32Array>]; kwargs: {}; result: FerryNdArray<Float32Array>; yields: FerryNdArray<Float32Array> }",
    f64: "{ args: [x: FerryNdArray<Float64Array>]; kwargs: {}; result: FerryNdArray<Float32Array>; yields: FerryNdArray<Float32Array> }",
    ints: "{ args: [a: FerryNdArray<BigInt64Array>, b: FerryNdArray<Uint8Array>, c: FerryNdArray<Int32Array>]; kwargs: {}; result: FerryNdArray<Uint8Array>; yields: FerryNdArray<Uint8Array> }",
    tensor: "{ args: [x: FerryNdArray<FerryTypedArray>]; kwargs: {}; result: FerryNdArray<FerryTypedArray>; yields: FerryNdArray<FerryTypedArray> }",
    batch: "{ args: [xs: FerryNdArray<Float32Array>[]]; kwargs: {}; result: Record<string, FerryNdArray<Float64Array>>; yields: Record<string, FerryNdArray<Float64Array>> }",
  },
  "classes.py": {
  },
  "containers.py": {
    lists: "{ args: [a: (number | bigint)[], b: string[], c: number[], d: string[], e: Uint8Array[]]; kwargs: {}; result: number[][]; yields: number[][] }",
    tuples: "{ args: [a: [number | bigint, string], b: number[], c: []]; kwargs: {}; result: [string, boolean]; yields: [string, boolean] }",
    dicts: "{ args: [a: Record<string, number>, b: Record<string, (number | bigint)[]>, c: Record<string, number | bigint>]; kwargs: {}; result: Record<string, string | null>; yields: Record<string, string | null> }",
    int_keys: "{ args: [a: Map<number | bigint, string>]; kwargs: {}; result: Map<[number | bigint, number | bigint], number>; yields: Map<[number | bigint, number | bigint], number> }",
    optional: "{ args: [a: number | bigint | null, b: number | bigint | string, c: number | bigint | null, d: string | Uint8Array | null]; kwargs: {}; result: string[] | null; yields: string[] | null }",
    literals: "{ args: [mode: \"fast\" | \"slow\", level: 1 | 2 | -3, flag: true | null]; kwargs: {}; result: \"ok\"; yields: \"ok\" }",
    annotated: "{ args: [x: number | bigint]; kwargs: {}; result: string[]; yields: string[] }",
    counts: "{ args: [words: string[]]; kwargs: {}; result: Record<string, number | bigint>; yields: Record<string, number | bigint> }",
    bare: "{ args: [a: unknown[], b: Record<string, unknown>, c: unknown[]]; kwargs: {}; result: unknown[]; yields: unknown[] }",
  },
  "flow.py": {
    tokens: "{ args: [prompt: string]; kwargs: {}; result: string[]; yields: string }",
    numbers: "{ args: [n: number | bigint]; kwargs: {}; result: (number | bigint)[]; yields: number | bigint }",
    rows: "{ args: []; kwargs: {}; result: Record<string, number>[]; yields: Record<string, number> }",
    fetch: "{ args: [url: string]; kwargs: {}; result: Uint8Array; yields: Uint8Array }",
    chunks: "{ args: [size: number | bigint]; kwargs: {}; result: Uint8Array[]; yields: Uint8Array }",
    events: "{ args: []; kwargs: {}; result: [string, number | bigint][]; yields: [string, number | bigint] }",
    untyped_generator: "{ args: [n: unknown]; kwargs: {}; result: unknown[]; yields: unknown }",
    returns_lambda_with_yield_inside: "{ args: []; kwargs: {}; result: number | bigint; yields: number | bigint }",
  },
  "future.py": {
    later: "{ args: [item: Item]; kwargs: {}; result: Item[]; yields: Item[] }",
    quoted: "{ args: [x: (number | bigint)[] | null]; kwargs: {}; result: Record<string, Item>; yields: Record<string, Item> }",
    checking_only: "{ args: [at: Date]; kwargs: {}; result: Date | null; yields: Date | null }",
  },
  "objects.py": {
    embed: "{ args: [v: number[]]; kwargs: {}; result: number[]; yields: number[] }",
    user: "{ args: [uid: number | bigint]; kwargs: {}; result: number | bigint; yields: number | bigint }",
    centroid: "{ args: [points: Point[]]; kwargs: {}; result: Point; yields: Point }",
    complete: "{ args: [request: Request]; kwargs: {}; result: Result; yields: Result }",
    tree: "{ args: [depth: number | bigint]; kwargs: {}; result: Node; yields: Node }",
    // A str or int enum's members travel as their values; a plain Enum cannot be sent.
    paint: '{ args: [color: "red" | "blue", level: 1 | 2]; kwargs: {}; result: "red" | "blue"; yields: "red" | "blue" }',
    shape: "{ args: [s: unknown /* Shape */]; kwargs: {}; result: unknown /* Shape */; yields: unknown /* Shape */ }",
  },
  "params.py": {
    positional_only: "{ args: [a: number | bigint, b?: string]; kwargs: {}; result: null; yields: null }",
    defaults: "{ args: [text: string, limit?: number | bigint, strict?: boolean]; kwargs: { limit?: number | bigint; strict?: boolean }; result: string; yields: string }",
    keyword_only: "{ args: [text: string]; kwargs: { lang: string; fuzzy?: boolean }; result: string; yields: string }",
    varargs: "{ args: [...values: number[]]; kwargs: {}; result: number; yields: number }",
    varkw: "{ args: [name: string]; kwargs: { [key: string]: string }; result: Record<string, string>; yields: Record<string, string> }",
    everything: "{ args: [a: number | bigint, b: number, c?: string, ...rest: (number | bigint)[]]; kwargs: { c?: string; d: boolean; e?: Uint8Array; [key: string]: number | string | boolean | Uint8Array | undefined }; result: null; yields: null }",
    reserved: "{ args: [default_: number | bigint, class_: string, function_?: number]; kwargs: { function?: number }; result: null; yields: null }",
  },
  "scalars.py": {
    to_int: "{ args: [x: number | bigint]; kwargs: {}; result: number | bigint; yields: number | bigint }",
    to_float: "{ args: [x: number]; kwargs: {}; result: number; yields: number }",
    to_str: "{ args: [x: string]; kwargs: {}; result: string; yields: string }",
    to_bool: "{ args: [x: boolean]; kwargs: {}; result: boolean; yields: boolean }",
    to_bytes: "{ args: [x: Uint8Array, y: Uint8Array]; kwargs: {}; result: Uint8Array; yields: Uint8Array }",
    nothing: "{ args: []; kwargs: {}; result: null; yields: null }",
    when: "{ args: [at: Date]; kwargs: {}; result: Date; yields: Date }",
    day: "{ args: [d: string]; kwargs: {}; result: string; yields: string }",
    anything: "{ args: [x: unknown]; kwargs: {}; result: unknown; yields: unknown }",
    unannotated: "{ args: [x: unknown, y?: unknown]; kwargs: { y?: unknown }; result: unknown; yields: unknown }",
    opaque: "{ args: [x: unknown /* complex */]; kwargs: {}; result: unknown; yields: unknown }",
    numpy_scalar: "{ args: [x: number]; kwargs: {}; result: number | bigint; yields: number | bigint }",
  },};

/** file -> class name -> its rendered signature (constructor and methods). */
const CLASSES: Record<string, Record<string, string>> = {
  "classes.py": {
    Base: `{
  init: { args: [name: string]; kwargs: { device?: string } };
  methods: {
    /** line 13 */
    describe: { args: []; kwargs: {}; result: string; yields: string };
    /** line 15 */
    reset: { args: []; kwargs: {}; result: null; yields: null };
  };
}`,
    // Inherits the constructor and `describe`, overrides `reset`; staticmethod and classmethod
    // lose no argument but self/cls; the property and __repr__ are not remote methods.
    Model: `{
  init: { args: [name: string]; kwargs: { device?: string } };
  methods: {
    /** line 13 */
    describe: { args: []; kwargs: {}; result: string; yields: string };
    /** line 26 */
    reset: { args: []; kwargs: {}; result: number | bigint | null; yields: number | bigint | null };
    /** line 19 */
    generate: { args: [prompt: string, max_tokens?: number | bigint]; kwargs: { max_tokens?: number | bigint; temperature?: number }; result: string; yields: string };
    /** line 21 */
    stream: { args: [prompt: string]; kwargs: {}; result: string[]; yields: string };
    /** line 24 */
    warm: { args: []; kwargs: {}; result: boolean; yields: boolean };
    /** line 29 */
    version: { args: []; kwargs: {}; result: string; yields: string };
    /** line 32 */
    build: { args: [size: number | bigint]; kwargs: {}; result: unknown /* Model */; yields: unknown /* Model */ };
  };
}`,
    Plain: `{
  init: { args: []; kwargs: {} };
  methods: {
    /** line 41 */
    ping: { args: []; kwargs: {}; result: unknown; yields: unknown };
  };
}`,
    // The constructor comes from torch.nn.Module, which this file does not define: unknown.
    Net: `{
  init: { args: unknown[]; kwargs: Record<string, unknown> };
  methods: {
    /** line 46 */
    forward: { args: [x: FerryNdArray<FerryTypedArray>]; kwargs: {}; result: FerryNdArray<FerryTypedArray>; yields: FerryNdArray<FerryTypedArray> };
  };
}`,
    // A dataclass's constructor is its fields.
    Counter: `{
  init: { args: [start?: number | bigint]; kwargs: { start?: number | bigint } };
  methods: {
    /** line 53 */
    add: { args: [n: number | bigint]; kwargs: {}; result: number | bigint; yields: number | bigint };
  };
}`,
  },
  "objects.py": {
    Result: `{
  init: { args: [text: string, tokens?: number | bigint, scores?: number[]]; kwargs: { tokens?: number | bigint; scores?: number[] } };
  methods: {};
}`,
    Node: `{
  init: { args: [label: string, children: Node[]]; kwargs: {} };
  methods: {};
}`,
  },
};

/** file -> named types (TypedDict, dataclass, NamedTuple). */
const TYPES: Record<string, Record<string, string>> = {
  "objects.py": {
    // A NamedTuple is a tuple: the codec sends it as an array, so it is a labelled tuple.
    Point: "export type Point = [x: number, y: number];",
    // total=False: every key may be missing.
    Options: "export interface Options {\n  temperature?: number;\n  stop?: string[];\n}",
    Request: "export interface Request {\n  prompt: string;\n  options: Options;\n  seed?: number | bigint;\n}",
    // A dataclass result carries every field; ClassVar is not a field; the alias is expanded.
    Result: "export interface Result {\n  text: string;\n  tokens: number | bigint;\n  scores: number[];\n}",
    // Refers to itself through a quoted forward reference.
    Node: "export interface Node {\n  label: string;\n  children: Node[];\n}",
  },
  "future.py": {
    Item: "export interface Item {\n  name: string;\n  parent: Item | null;\n}",
  },
  "classes.py": {
    Counter: "export interface Counter {\n  start: number | bigint;\n}",
  },
};

const modules = new Map<string, ModuleSignatures>();

beforeAll(async () => {
  const files = readdirSync(CORPUS).filter((f) => f.endsWith(".py"));
  for (const result of await readSignatures(files.map((f) => join(CORPUS, f)))) {
    if ("error" in result) throw new Error(`${result.path}: ${result.error.message}`);
    modules.set(result.path.split("/").pop()!, result.module);
  }
}, 60_000);

describe("the corpus", () => {
  it("has at least 40 signatures, and an expectation for each", () => {
    let signatures = 0;
    for (const [file, module] of modules) {
      expect(module.functions.map((f) => f.name).sort(), file).toEqual(Object.keys(FUNCTIONS[file] ?? {}).sort());
      expect(module.classes.map((c) => c.name).sort(), file).toEqual(Object.keys(CLASSES[file] ?? {}).sort());
      expect(Object.keys(module.types).sort(), file).toEqual(Object.keys(TYPES[file] ?? {}).sort());
      signatures += module.functions.length + module.classes.reduce((n, c) => n + 1 + c.methods.length, 0);
    }
    expect(signatures).toBeGreaterThanOrEqual(40);
  });

  const functionCases = Object.entries(FUNCTIONS).flatMap(([file, fns]) => Object.entries(fns).map(([name, ts]) => [file, name, ts] as const));
  it.each(functionCases)("%s %s", (file, name, ts) => {
    const fn = modules.get(file)!.functions.find((f) => f.name === name)!;
    expect(renderFunction(fn)).toBe(ts);
  });

  const classCases = Object.entries(CLASSES).flatMap(([file, classes]) => Object.entries(classes).map(([name, ts]) => [file, name, ts] as const));
  it.each(classCases)("%s class %s", (file, name, ts) => {
    const cls = modules.get(file)!.classes.find((c) => c.name === name)!;
    expect(renderClass(cls, "")).toBe(ts);
  });

  const typeCases = Object.entries(TYPES).flatMap(([file, types]) => Object.entries(types).map(([name, ts]) => [file, name, ts] as const));
  it.each(typeCases)("%s type %s", (file, name, ts) => {
    expect(renderNamedType(name, modules.get(file)!.types[name]!)).toBe(ts);
  });
});

describe("the corpus's generated modules", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ferry-corpus-"));
    cpSync(CORPUS, dir, { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("compile, and type fromFile / classFromFile calls", async () => {
    const report = await generateTypes([dir]);
    expect(report.failures).toEqual([]);
    expect(report.changed).toHaveLength(readdirSync(CORPUS).filter((f) => f.endsWith(".py")).length * 2);
    writeFileSync(
      join(dir, "use.ts"),
      `import { remote, kwargs, LiveServerless } from ${JSON.stringify(resolve("sdk/index.ts"))};
import classes from "./classes.ferry.js";
import objects, { type Point } from "./objects.ferry.js";
import params from "./params.ferry.js";
import arrays from "./arrays.ferry.js";
import flow from "./flow.ferry.js";
const py = remote(new LiveServerless({ name: "corpus" }));
export async function use(): Promise<void> {
  const p: Point = await py.fromFile(objects, "centroid")([[1, 2], [3, 4]]);
  const node = await py.fromFile(objects, "tree")(3);
  node.children[0]?.label.toUpperCase();
  await py.fromFile(params, "keyword_only")("text", kwargs({ lang: "en" }));
  await py.fromFile(params, "everything")(1, 2.5, "c", 4, 5, kwargs({ d: true, extra: 1.5 }));
  const a = await py.fromFile(arrays, "f32")(Object.assign(new Float32Array(2), { shape: [2], dtype: "<f4" }));
  a.shape.map((d) => d * 2);
  for await (const token of py.fromFile(flow, "tokens").stream("hi")) token.toUpperCase();
  const Model = py.classFromFile(classes, "Model");
  const m = await Model.create("tiny", kwargs({ device: "cuda" }));
  const text: string = await m.generate("hi", kwargs({ temperature: 0.5 }));
  const tokens: string[] = await m.stream("hi");
  void [p, text, tokens];
}
`,
    );
    const tsc = resolve("node_modules/typescript/bin/tsc");
    const args = ["--noEmit", "--strict", "--skipLibCheck", "--target", "ES2022", "--module", "ESNext", "--moduleResolution", "bundler", "--allowImportingTsExtensions", "--types", "node", join(dir, "use.ts")];
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, ...args], { encoding: "utf8", timeout: 300_000 });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe("");
  }, 360_000);
});
