// Fuzzing the job input (fast-check, fixed seed): generated inputs go through Ferry's real job
// handler and the real Python child. Every one must answer `success: false` with a readable error,
// nothing may throw out of the handler or hang it, and a valid job afterwards must succeed.
//
// The generated inputs never run arbitrary Python: they either fail validation (no Python at
// all), or they are valid-shaped jobs whose code is fixed and harmless and whose payloads are
// corrupt, so the failure must come from decoding. The fixed code raises if its arguments ever
// decode, so a corrupt payload that slipped through would show as the wrong error_type.
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import { EXECUTION_TYPES, SERIALIZATION_FORMATS } from "../../protocol/wire.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { HEALTHY, newEngine, newHandler, python, runJob, type JobRun } from "../helpers/engine.ts";
import { installDependencies } from "../../handler/deps/index.ts";
import { cacheModels } from "../../handler/hf/index.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { expectReadableFailure, FUZZ_SEED, fuzzRuns, within } from "./helpers.ts";

const JOB_TIMEOUT_MS = 10_000;
const RAISES = "def f(*args, **kwargs):\n    raise AssertionError('the arguments decoded: the payload was not corrupt')";
const CLASS_CODE =
  "class C:\n    def __init__(self, *args, **kwargs):\n        if args or kwargs:\n            raise AssertionError('the constructor arguments decoded')\n" +
  "    def __call__(self, *args, **kwargs):\n        raise AssertionError('the arguments decoded')";

let engine: PythonEngine | undefined;
let handler: JobHandler;

/** A new engine and handler; `prepare` wires the real dependency and model steps (as the worker does). */
async function freshWorker(prepare = false): Promise<void> {
  const e = newEngine();
  engine = e;
  await e.start();
  handler = newHandler(
    e,
    prepare
      ? {
          installDependencies: (request, ctx) => installDependencies(request, { engine: e, logger: silentLogger(), signal: ctx.signal, pipTimeoutMs: 5_000 }),
          cacheModels: (models, ctx) => cacheModels(models, { logger: silentLogger(), signal: ctx.signal, hubUrl: "http://127.0.0.1:9", retries: 0, cacheDir: "/nonexistent/ferry-fuzz" }),
        }
      : {},
  );
}

afterEach(async () => {
  await engine?.stop(2_000);
  engine = undefined;
});

/** One job, bounded in time: a hang fails the property instead of the whole suite's timeout. */
function job(input: unknown, what = "fuzzed job"): Promise<JobRun> {
  return within(JOB_TIMEOUT_MS, what, runJob(handler, input as Record<string, unknown>));
}

async function expectHealthy(): Promise<void> {
  const { response } = await job(HEALTHY, "the healthy job after the fuzzed ones");
  expect(response).toMatchObject({ success: true, json_result: 42 });
}

const fuzz = <T>(arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, numRuns: number) =>
  fc.assert(fc.asyncProperty(arb, predicate), { seed: FUZZ_SEED, numRuns, endOnFailure: true });

// ---------------------------------------------------------------------------------------------
// Valid payloads to corrupt: real pickles (made by the Python that runs the child) and plain
// MessagePack documents of random JSON values.
// ---------------------------------------------------------------------------------------------
let pickles: Buffer[] = [];
const packr = new Packr({ useRecords: false, variableMapSize: true });
const msgpackDocs = fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(packr.pack(v)));

beforeAll(() => {
  const values = fc.sample(fc.jsonValue({ maxDepth: 3 }), { seed: FUZZ_SEED, numRuns: 64 });
  const script = "import base64, json, pickle, sys\nfor v in json.load(sys.stdin):\n    print(base64.b64encode(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)).decode())";
  const out = execFileSync(python, ["-c", script], { input: JSON.stringify(values), encoding: "utf8" });
  pickles = out.trim().split("\n").map((line) => Buffer.from(line, "base64"));
  expect(pickles.length).toBe(64);
});

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const randomBytes = (max = 64) => fc.uint8Array({ maxLength: max });

/** Base64 text whose bytes no decoder accepts, tagged with the way it is broken. */
function corruptPickle(): fc.Arbitrary<[string, string]> {
  const pickle = fc.integer({ min: 0, max: 63 }).map((i) => pickles[i]!);
  return fc.oneof(
    // 0xff is no pickle opcode: "invalid load key".
    randomBytes().map((tail) => ["invalid load key", b64(Buffer.concat([Buffer.from([0xff]), tail]))] as [string, string]),
    // Any proper prefix of a pickle lacks its STOP opcode.
    fc.tuple(pickle, fc.integer({ min: 1, max: 1000 })).map(([p, cut]) => ["truncated pickle", b64(p.subarray(0, Math.max(0, p.length - cut)))] as [string, string]),
    // Protocol header announcing a protocol that does not exist.
    randomBytes().map((tail) => ["unsupported protocol", b64(Buffer.concat([Buffer.from([0x80, 0x7f]), tail]))] as [string, string]),
  );
}

function corruptMsgpack(): fc.Arbitrary<[string, string]> {
  const bomb = fc.constantFrom(0xdb, 0xc6, 0xdd, 0xdf).map((code) => Buffer.from([code, 0xff, 0xff, 0xff, 0xff]));
  return fc.oneof(
    // 0xc1 is the one byte MessagePack never uses.
    randomBytes().map((tail) => ["reserved byte", b64(Buffer.concat([Buffer.from([0xc1]), tail]))] as [string, string]),
    // A document is self-delimiting: any proper prefix is incomplete.
    fc.tuple(msgpackDocs, fc.integer({ min: 1, max: 1000 })).map(([d, cut]) => ["truncated", b64(d.subarray(0, Math.max(0, d.length - cut)))] as [string, string]),
    // Bytes after the document.
    fc.tuple(msgpackDocs, randomBytes().filter((b) => b.length > 0)).map(([d, extra]) => ["extra data", b64(Buffer.concat([d, extra]))] as [string, string]),
    // A length of 4 GiB announced by a 5-byte document (str32, bin32, array32, map32).
    bomb.map((b) => ["forged length", b64(b)] as [string, string]),
    // A str whose bytes are not UTF-8.
    fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => ["not UTF-8", b64(Buffer.concat([Buffer.from([0xd9, b.length + 1, 0xff]), b]))] as [string, string]),
    // Ferry's ndarray (1) and big-integer (2) extensions and the timestamp (-1) with bad payloads.
    randomBytes(16).map((b) => ["bad ndarray ext", b64(Buffer.concat([Buffer.from([0xc7, b.length + 1, 0x01, 0xc1]), b]))] as [string, string]),
    fc.string({ minLength: 1, maxLength: 20 }).map((s) => {
      const payload = Buffer.from(`x${s}`);
      return ["bad bigint ext", b64(Buffer.concat([Buffer.from([0xc7, payload.length, 0x02]), payload]))] as [string, string];
    }),
    fc.constantFrom(1, 2, 3, 5, 6, 7, 9, 10, 11).map((n) => ["bad timestamp ext", b64(Buffer.concat([Buffer.from([0xc7, n, 0xff]), Buffer.alloc(n)]))] as [string, string]),
  );
}

/** Text that is not base64: it holds at least one character outside the alphabet. */
const notBase64 = fc
  .tuple(fc.string({ maxLength: 40 }), fc.constantFrom("!", "#", " ", "\n", "é", "中", "-", "_", "=A", "%"), fc.string({ maxLength: 40 }))
  .map(([a, bad, b]) => ["not base64", `${a}${bad}${b}`] as [string, string]);
/** Base64 whose length is not a multiple of 4 (cut mid-quantum). */
const truncatedBase64 = fc
  .tuple(msgpackDocs, fc.integer({ min: 1, max: 3 }))
  .map(([d, cut]) => {
    const text = b64(d).replace(/=+$/, "");
    const trimmed = text.length % 4 === 0 ? text.slice(0, -cut) : text;
    return ["truncated base64", trimmed.length % 4 === 0 ? `${trimmed}A` : trimmed] as [string, string];
  })
  .filter(([, t]) => t.length % 4 !== 0);

// ---------------------------------------------------------------------------------------------
// Inputs that fail validation
// ---------------------------------------------------------------------------------------------
type Field =
  | "execution_type" | "function_name" | "function_code" | "class_name" | "class_code" | "method_name" | "instance_id"
  | "create_new_instance" | "args" | "kwargs" | "constructor_args" | "constructor_kwargs" | "dependencies"
  | "system_dependencies" | "accelerate_downloads" | "hf_models_to_cache" | "serialization_format" | "modules"
  | "timeout_ms" | "return_aggregate_stream";

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const strings = (v: unknown) => v === null || (Array.isArray(v) && v.every((x) => typeof x === "string"));
/** What the wire schema accepts for each field (json format, where args may hold any value). */
const ACCEPTS: Record<Field, (v: unknown) => boolean> = {
  execution_type: (v) => (EXECUTION_TYPES as readonly unknown[]).includes(v),
  function_name: (v) => v === null || typeof v === "string",
  function_code: (v) => v === null || typeof v === "string",
  class_name: (v) => v === null || typeof v === "string",
  class_code: (v) => v === null || typeof v === "string",
  method_name: (v) => v === null || (typeof v === "string" && v.length > 0),
  instance_id: (v) => v === null || typeof v === "string",
  create_new_instance: (v) => v === null || typeof v === "boolean",
  args: (v) => v === null || Array.isArray(v),
  kwargs: (v) => v === null || isPlainObject(v),
  constructor_args: (v) => v === null || Array.isArray(v),
  constructor_kwargs: (v) => v === null || isPlainObject(v),
  dependencies: strings,
  system_dependencies: strings,
  accelerate_downloads: (v) => v === null || typeof v === "boolean",
  hf_models_to_cache: strings,
  serialization_format: (v) => v === null || (SERIALIZATION_FORMATS as readonly unknown[]).includes(v),
  modules: (v) => v === null || (isPlainObject(v) && Object.values(v).every((x) => typeof x === "string")),
  timeout_ms: (v) => v === null || (typeof v === "number" && Number.isInteger(v) && v > 0 && v <= 86_400_000),
  return_aggregate_stream: (v) => v === null || typeof v === "boolean",
};
const FIELDS = Object.keys(ACCEPTS) as Field[];

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom<unknown>(0, -1, 1.5, Number.MAX_SAFE_INTEGER, 86_400_001, "", true, false, [], {}, [1], { a: 1 }, [{}], ["", 3]),
);
/** 1 to 3 fields, each given a value the schema refuses. */
const wrongFields = fc.uniqueArray(fc.constantFrom(...FIELDS), { minLength: 1, maxLength: 3 }).chain((fields) =>
  fc.tuple(fc.constant(fields), fc.tuple(...fields.map((f) => anyValue.filter((v) => !ACCEPTS[f](v))))),
);

describe("fuzzed job inputs through the real handler and Python child", () => {
  it(`random JSON values as the whole input answer InvalidRequest`, async () => {
    await freshWorker();
    await fuzz(
      fc.oneof(fc.jsonValue(), fc.array(fc.anything({ maxDepth: 2 })), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }))),
      async (input) => {
        const { response, items } = await job(input);
        expectReadableFailure(response, JSON.stringify(input)?.slice(0, 100));
        expect(response.error_type).toBe("InvalidRequest");
        expect(items).toEqual([]);
      },
      fuzzRuns(600),
    );
    await expectHealthy();
  });

  it("a wrong type in any field answers InvalidRequest naming that field", async () => {
    await freshWorker();
    await fuzz(
      wrongFields,
      async ([fields, values]) => {
        const input: Record<string, unknown> = { function_name: "f", function_code: RAISES, serialization_format: "json" };
        fields.forEach((f, i) => (input[f] = values[i]));
        const { response } = await job(input);
        expectReadableFailure(response, JSON.stringify(input).slice(0, 200));
        expect(response.error_type).toBe("InvalidRequest");
        // The message names the first refused field (up to 10 problems are listed).
        expect(fields.some((f) => response.error!.includes(f))).toBe(true);
      },
      fuzzRuns(600),
    );
    await expectHealthy();
  });

  it("missing required fields and unknown execution types answer InvalidRequest", async () => {
    await freshWorker();
    const unknownType = fc.oneof(fc.string(), fc.constantFrom("Function", "FUNCTION", " function", "method", "generator", "destroy ", "")).filter(
      (s) => !(EXECUTION_TYPES as readonly string[]).includes(s),
    );
    const missing = fc.oneof(
      fc.record({ execution_type: fc.constant("function"), function_code: fc.constant(RAISES), function_name: fc.constantFrom(undefined, null, "") }),
      fc.record({ execution_type: fc.constant("class"), class_code: fc.constant(CLASS_CODE), class_name: fc.constantFrom(undefined, null, "") }),
      fc.record({ execution_type: fc.constant("destroy"), instance_id: fc.constantFrom(undefined, null, "") }),
      fc.record({ execution_type: unknownType, function_name: fc.constant("f"), function_code: fc.constant(RAISES) }),
    );
    await fuzz(
      missing,
      async (input) => {
        const { response } = await job(input);
        expectReadableFailure(response, JSON.stringify(input));
        expect(response.error_type).toBe("InvalidRequest");
        expect(response.error).toMatch(/function_name|class_name|instance_id|execution_type/);
      },
      fuzzRuns(300),
    );
    await expectHealthy();
  });

  const placements = ["args", "kwargs"] as const;
  it("corrupt args and kwargs (not base64, truncated, corrupt pickle and MessagePack) answer DeserializationError", async () => {
    await freshWorker();
    const payload = fc.oneof(
      fc.tuple(fc.constant("cloudpickle" as const), fc.oneof(corruptPickle(), notBase64, truncatedBase64)),
      fc.tuple(fc.constant("msgpack" as const), fc.oneof(corruptMsgpack(), notBase64, truncatedBase64)),
    );
    const arb = fc.tuple(payload, fc.constantFrom(...placements), fc.constantFrom("function", "class"), fc.integer({ min: 0, max: 2 }));
    let sinceHealthy = 0;
    await fuzz(
      arb,
      async ([[format, [how, text]], where, kind, position]) => {
        // The corrupt item sits after `position` good-looking ones (unused: decoding stops at the first bad one).
        const good = format === "msgpack" ? b64(packr.pack(1)) : b64(pickles[0]!);
        const args = where === "args" ? [...Array<string>(position).fill(good), text] : [];
        const kwargs = where === "kwargs" ? { [`k${position}`]: text } : {};
        const input =
          kind === "function"
            ? { function_name: "f", function_code: RAISES, serialization_format: format, args, kwargs }
            : { execution_type: "class", class_name: "C", class_code: CLASS_CODE, serialization_format: format, args, kwargs };
        const { response } = await job(input);
        expectReadableFailure(response, `${format} ${how} in ${where}`);
        expect(response.error_type, `${format} ${how} in ${where}: ${response.error}`).toBe("DeserializationError");
        expect(response.error).toContain(where === "args" ? `args[${position}]` : `kwargs.k${position}`);
        if (++sinceHealthy === 25) {
          sinceHealthy = 0;
          await expectHealthy();
        }
      },
      fuzzRuns(800),
    );
    await expectHealthy();
  });

  it("corrupt constructor_args and constructor_kwargs answer DeserializationError too", async () => {
    await freshWorker();
    const payload = fc.oneof(
      fc.tuple(fc.constant("cloudpickle" as const), fc.oneof(corruptPickle(), notBase64)),
      fc.tuple(fc.constant("msgpack" as const), fc.oneof(corruptMsgpack(), notBase64)),
    );
    await fuzz(
      fc.tuple(payload, fc.constantFrom("constructor_args", "constructor_kwargs")),
      async ([[format, [how, text]], where]) => {
        const input = {
          execution_type: "class",
          class_name: "C",
          class_code: CLASS_CODE,
          serialization_format: format,
          [where]: where === "constructor_args" ? [text] : { k: text },
        };
        const { response } = await job(input);
        expectReadableFailure(response, `${format} ${how} in ${where}`);
        // internals.md: DeserializationError = "args cannot be decoded"; constructor args are args.
        expect(response.error_type, `${format} ${how} in ${where}: ${response.error}`).toBe("DeserializationError");
      },
      fuzzRuns(100),
    );
    await expectHealthy();
  });

  it("lone surrogates (text that is not valid Unicode) anywhere in a job answer, and the worker stays usable", async () => {
    await freshWorker();
    const surrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
    const text = fc.tuple(fc.string({ maxLength: 10 }), surrogate, fc.string({ maxLength: 10 })).map(([a, s, b]) => `${a}${s}${b}`);
    const placed = fc.tuple(text, fc.constantFrom("function_name", "function_code comment", "json arg", "json kwarg key", "module source", "instance_id"));
    await fuzz(
      placed,
      async ([bad, where]) => {
        const input: Record<string, unknown> = { function_name: "f", function_code: RAISES, serialization_format: "json", args: [1] };
        if (where === "function_name") input.function_name = bad;
        if (where === "function_code comment") input.function_code = `# ${bad}\n${RAISES}`;
        if (where === "json arg") input.args = [bad];
        if (where === "json kwarg key") input.kwargs = { [bad]: 1 };
        if (where === "module source") input.modules = { "m.py": `# ${bad}\n` };
        if (where === "instance_id") Object.assign(input, { execution_type: "class", class_name: "C", class_code: CLASS_CODE, instance_id: bad, args: [] });
        const { response } = await job(input, `a lone surrogate in ${where}`);
        expectReadableFailure(response, `lone surrogate in ${where}`);
        await expectHealthy();
      },
      fuzzRuns(60, 300),
    );
  });

  it("deep nesting (1,000 to 20,000 levels) answers, and the worker stays usable", async () => {
    await freshWorker();
    const nest = (depth: number, leaf: unknown, asObject: boolean) => {
      let v: unknown = leaf;
      for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
      return v;
    };
    await fuzz(
      fc.tuple(fc.integer({ min: 1_000, max: 20_000 }), fc.boolean(), fc.constantFrom("json arg", "json kwarg", "dependencies", "cloudpickle arg", "msgpack payload")),
      async ([depth, asObject, where]) => {
        let input: Record<string, unknown>;
        if (where === "msgpack payload") {
          // 0x91 = a one-element array, `depth` times, then nil: nesting inside the payload itself.
          const bytes = Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]);
          input = { function_name: "f", function_code: RAISES, serialization_format: "msgpack", args: [b64(bytes)] };
        } else {
          const deep = nest(depth, 1, asObject);
          input = { function_name: "f", function_code: RAISES, serialization_format: where === "cloudpickle arg" ? "cloudpickle" : "json" };
          if (where === "json arg" || where === "cloudpickle arg") input.args = [deep];
          if (where === "json kwarg") input.kwargs = { k: deep };
          if (where === "dependencies") input.dependencies = [deep];
        }
        const { response } = await job(input, `${depth} levels in ${where}`);
        expectReadableFailure(response, `${depth} levels in ${where}`);
        await expectHealthy();
      },
      fuzzRuns(30, 200),
    );
  });

  it("10 MB strings in each field answer with a short error", async () => {
    await freshWorker(true);
    const huge = "x".repeat(10 * 1024 * 1024);
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["execution_type", { execution_type: huge, function_name: "f" }, "InvalidRequest"],
      ["serialization_format", { serialization_format: huge, function_name: "f", function_code: RAISES }, "InvalidRequest"],
      ["a dependency", { function_name: "f", function_code: RAISES, dependencies: [huge] }, "InvalidRequest|DependencyInstallError"],
      ["a model id", { function_name: "f", function_code: RAISES, hf_models_to_cache: [huge] }, "InvalidRequest|ModelDownloadError"],
      ["a module path", { function_name: "f", function_code: RAISES, modules: { [huge]: "" } }, "InvalidRequest"],
      ["a cloudpickle arg (not base64)", { function_name: "f", function_code: RAISES, args: [`${huge}!`] }, "DeserializationError"],
      ["a msgpack arg (truncated document)", { function_name: "f", function_code: RAISES, serialization_format: "msgpack", args: [b64(Buffer.concat([Buffer.from([0xdb, 0x00, 0xa0, 0x00, 0x01]), Buffer.alloc(7_000_000, 0x61)]))] }, "DeserializationError"],
      ["function_name", { function_name: huge, function_code: RAISES }, "InvalidRequest|NameError"],
      ["method_name", { execution_type: "class", class_name: "C", class_code: CLASS_CODE, method_name: huge }, "InvalidRequest|AttributeError"],
      ["function_code (a syntax error)", { function_name: "f", function_code: `${huge} (` }, "InvalidRequest|SyntaxError"],
    ];
    const failures: string[] = [];
    for (const [where, input, types] of cases) {
      const { response } = await job(input, `10 MB in ${where}`);
      try {
        expectReadableFailure(response, `10 MB in ${where}`);
        expect(response.error_type).toMatch(new RegExp(`^(${types})$`));
      } catch (error) {
        failures.push(`${where}: ${response.error_type}, error of ${response.error?.length} chars: ${response.error?.slice(0, 80)}`);
      }
    }
    expect(failures, "fields whose 10 MB value came back in a long error").toEqual([]);
    await expectHealthy();
  });
});
