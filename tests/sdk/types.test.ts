/**
 * The types users see. `expectTypeOf` lines and `@ts-expect-error` lines are checked by
 * `tsc --noEmit -p tsconfig.json` (this file is in the project); the last test also runs tsc
 * on a small user file with a wrong argument and expects the compile to fail there.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { kwargs, LiveServerless, remote, type CallInfo, type CallResult, type ClassHandle, type NdArray } from "../../sdk/index.ts";

const gpu = new LiveServerless({ name: "types-only" });
const embed = remote(gpu).function<[texts: string[], normalize?: boolean], number[][], { batch_size?: number }>("def embed(texts, normalize=True, batch_size=8): ...", "embed");

interface ModelApi {
  generate(prompt: string, maxTokens?: number): string;
  stats(): { calls: number };
  tokens(prompt: string): Generator<string>;
}
const Model = remote(gpu).class<ModelApi, [name: string]>("class Model: ...", "Model");

// Never called: these lines exist for the type checker.
async function typeChecks(): Promise<void> {
  expectTypeOf(embed(["a"])).toEqualTypeOf<Promise<number[][]>>();
  expectTypeOf(embed(["a"], true, kwargs({ batch_size: 4 }))).toEqualTypeOf<Promise<number[][]>>();
  expectTypeOf(embed.call(["a"])).toEqualTypeOf<Promise<CallResult<number[][]>>>();
  expectTypeOf(embed.stream(["a"])).toEqualTypeOf<AsyncGenerator<number[], CallInfo, undefined>>();
  expectTypeOf(embed.with({ timeoutMs: 5 })(["a"])).toEqualTypeOf<Promise<number[][]>>();
  const checked = embed.with({ schema: z.array(z.array(z.number()).length(3)) });
  expectTypeOf(checked(["a"])).toEqualTypeOf<Promise<number[][]>>();
  const narrowed = remote(gpu).function<[], unknown>("def f(): ...", "f").with({ schema: z.object({ ok: z.boolean() }) });
  expectTypeOf(narrowed()).toEqualTypeOf<Promise<{ ok: boolean }>>();

  // @ts-expect-error a number is not a string[]
  await embed(42);
  // @ts-expect-error the second positional parameter is a boolean
  await embed(["a"], "yes");
  // @ts-expect-error an unknown keyword argument
  await embed(["a"], kwargs({ batch: 4 }));
  // @ts-expect-error a keyword argument of the wrong type
  await embed(["a"], kwargs({ batch_size: "4" }));
  // @ts-expect-error kwargs must come last
  await embed(kwargs({ batch_size: 4 }), ["a"]);
  // @ts-expect-error a known keyword next to an unknown one
  await embed(["a"], kwargs({ batch_size: 4, batch: 4 }));

  // A required keyword argument makes kwargs({...}) required; kwargs may follow any number of the optional positionals.
  const tag = remote(gpu).function<[text: string, lang?: string, strict?: boolean], string, { model: string; top?: number }>("def tag(text, lang='en', strict=False, *, model, top=1): ...", "tag");
  expectTypeOf(tag("t", kwargs({ model: "m" }))).toEqualTypeOf<Promise<string>>();
  expectTypeOf(tag("t", "de", kwargs({ model: "m", top: 2 }))).toEqualTypeOf<Promise<string>>();
  expectTypeOf(tag("t", "de", true, kwargs({ model: "m" }))).toEqualTypeOf<Promise<string>>();
  // @ts-expect-error the required keyword argument is missing
  await tag("t");
  // @ts-expect-error the required keyword argument is missing from kwargs
  await tag("t", kwargs({ top: 2 }));

  const m = await Model.create("tiny");
  expectTypeOf(m).toEqualTypeOf<ClassHandle<ModelApi>>();
  expectTypeOf(m.generate("hi")).toEqualTypeOf<Promise<string>>();
  expectTypeOf(m.generate("hi", 5)).toEqualTypeOf<Promise<string>>();
  expectTypeOf(m.stats()).toEqualTypeOf<Promise<{ calls: number }>>();
  expectTypeOf(m.instanceId).toEqualTypeOf<string>();
  expectTypeOf(m.rebuilds).toEqualTypeOf<number>();
  expectTypeOf(m.destroy()).toEqualTypeOf<Promise<void>>();
  // @ts-expect-error generate takes a string
  await m.generate(1);
  // @ts-expect-error no such method
  await m.nonexistent();
  // @ts-expect-error the constructor takes a string
  await Model.create(3);

  expectTypeOf<NdArray<Float32Array>["shape"]>().toEqualTypeOf<number[]>();
}
void typeChecks;

describe("types", () => {
  it("a wrong argument type for a typed remote function does not compile", () => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-types-"));
    const sdk = resolve("sdk/index.ts");
    writeFileSync(
      join(dir, "user.ts"),
      `import { remote, LiveServerless } from ${JSON.stringify(sdk)};
const add = remote(new LiveServerless({ name: "x" })).function<[a: number, b: number], number>("def add(a, b): return a + b", "add");
export const ok: Promise<number> = add(1, 2);
export const wrong = add("1", 2);
`,
    );
    let output = "";
    try {
      execFileSync(
        process.execPath,
        [resolve("node_modules/typescript/bin/tsc"), "--noEmit", "--strict", "--skipLibCheck", "--target", "ES2022", "--module", "ESNext", "--moduleResolution", "bundler", "--allowImportingTsExtensions", "--types", "node", join(dir, "user.ts")],
        { encoding: "utf8", timeout: 170_000 },
      );
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(output).toMatch(/user\.ts\(4,/);
    expect(output).toMatch(/error TS2345/);
    expect(output).toMatch(/Type 'string' is not assignable to type 'number'/);
    // only the wrong line fails
    expect(output.match(/error TS/g)).toHaveLength(1);
  }, 180_000);
});
