/**
 * The generated declarations hold calls to the Python's own signature, checked by `tsc`: a wrong
 * argument type, a missing required argument, an unknown keyword and a wrong use of the result
 * do not compile, while explicit generics still win. After the Python signature changes,
 * `ferry types --check` fails until the declarations are regenerated, and then the old call site
 * fails `tsc`.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
let dir: string;

async function ferryTypes(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [resolve("bin/ferry.mjs"), "types", ...args], { cwd: dir, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** tsc's errors on user.ts, as `line: message`. It checks the SDK's source too: ~30 s here when idle, minutes under load. */
async function typeErrors(): Promise<string[]> {
  const tsc = resolve("node_modules/typescript/bin/tsc");
  const args = ["--noEmit", "--strict", "--skipLibCheck", "--target", "ES2022", "--module", "ESNext", "--moduleResolution", "bundler", "--allowImportingTsExtensions", "--types", "node", join(dir, "user.ts")];
  try {
    await run(process.execPath, [tsc, ...args], { timeout: 300_000 });
    return [];
  } catch (error) {
    const out = String((error as { stdout?: string }).stdout ?? error);
    return [...out.matchAll(/user\.ts\((\d+),\d+\): error (TS\d+: [^\n]*)/g)].map((m) => `${m[1]}: ${m[2]}`);
  }
}

/** Lines of user.ts marked with `// error:`. */
function markedLines(source: string): number[] {
  return source
    .split("\n")
    .map((line, i) => (line.includes("// error:") ? i + 1 : 0))
    .filter(Boolean);
}

const PYTHON = (valuesType: string) => `from typing import TypedDict


class Summary(TypedDict):
    count: int
    mean: float


def describe(values: list[${valuesType}], scale: float = 1.0, *, label: str = "") -> Summary:
    return {"count": len(values), "mean": 0.0}


def tag(text: str, *, lang: str) -> str:
    return text
`;

const USER = `import { kwargs, LiveServerless, remote } from ${JSON.stringify(resolve("sdk/index.ts"))};
import model, { type Summary } from "./model.ferry.js";

const py = remote(new LiveServerless({ name: "typed" }));
const describe = py.fromFile(model, "describe");
const tag = py.fromFile(model, "tag");
export async function calls(): Promise<void> {
  const summary: Summary = await describe([1.5, 2], 2, kwargs({ label: "x" }));
  const mean: number = (await describe([1])).mean;
  await describe([1], kwargs({ scale: 3 }));
  await tag("hi", kwargs({ lang: "en" }));
  for await (const s of describe.stream([1])) s.count;
  await describe(["a"]); // error: a wrong argument type
  await describe(); // error: a missing required argument
  await tag("hi"); // error: a missing required keyword-only argument
  await describe([1], kwargs({ lable: "x" })); // error: an unknown keyword
  (await describe([1])).mean.toUpperCase(); // error: a wrong use of the result
  const n: number = (await describe([1])).count; // error: an int may be a bigint
  await py.fromFile(model, "nope"); // error: no such function
  // Explicit generics still win, for code typed by hand.
  const explicit = py.fromFile<[name: string], { greeting: string }>(model.file, "describe");
  const greeting: string = (await explicit("ada")).greeting;
  void [summary, mean, n, greeting];
}
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-typecheck-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(join(dir, "model.py"), PYTHON("float"));
  writeFileSync(join(dir, "user.ts"), USER);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("generated declarations and tsc", () => {
  it("type calls from the Python signature; drift is caught by --check and then by tsc", async () => {
    const generated = await ferryTypes("model.py");
    expect(generated.stderr).toBe("");
    expect(generated.code).toBe(0);
    expect(generated.stdout).toContain("wrote model.ferry.d.ts");
    expect((await ferryTypes("--check")).code).toBe(0);

    // Exactly the marked lines fail, each for its reason.
    const errors = await typeErrors();
    expect(errors.map((e) => Number(e.split(":")[0]))).toEqual(markedLines(USER));
    const at = (marker: string) => errors.find((e) => e.startsWith(`${markedLines(USER)[USER.split("\n").filter((l) => l.includes("// error:")).findIndex((l) => l.includes(marker))]}:`));
    expect(at("wrong argument type")).toMatch(/string/);
    expect(at("unknown keyword")).toMatch(/lable/);
    expect(at("wrong use of the result")).toMatch(/toUpperCase/);
    expect(at("may be a bigint")).toMatch(/bigint/);
    expect(at("no such function")).toMatch(/No overload matches this call/);

    // The Python changes: values are now strings. The declarations are stale until regenerated.
    writeFileSync(join(dir, "model.py"), PYTHON("str"));
    const stale = await ferryTypes("--check");
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("stale: model.ferry.d.ts");
    expect(stale.stderr).toContain("run `ferry types`");
    expect(readFileSync(join(dir, "model.ferry.d.ts"), "utf8")).toContain("values: number[]");

    expect((await ferryTypes()).code).toBe(0);
    expect(readFileSync(join(dir, "model.ferry.d.ts"), "utf8")).toContain("values: string[]");
    expect((await ferryTypes("--check")).code).toBe(0);
    // The call sites written for numbers no longer compile; the one for strings now does.
    const after = await typeErrors();
    const failing = new Set(after.map((e) => Number(e.split(":")[0])));
    const lines = USER.split("\n");
    const lineOf = (text: string) => lines.findIndex((l) => l.includes(text)) + 1;
    expect(failing.has(lineOf("await describe([1.5, 2], 2"))).toBe(true);
    expect(failing.has(lineOf("const mean: number"))).toBe(true);
    expect(failing.has(lineOf('await describe(["a"])'))).toBe(false);
  }, 700_000);
});
