/**
 * The annotation reader on input it cannot map: each case degrades to `unknown` (with the Python
 * type named) or to an error for that one file, never to a crash of the whole run.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderFunction } from "../../sdk/python-types/declarations.ts";
import { readSignatures } from "../../sdk/python-types/generate.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-reader-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, source: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

describe("read_annotations.py", () => {
  it("maps what it cannot follow to unknown, naming the Python type", async () => {
    const path = file(
      "odd.py",
      `from typing import Callable, Literal, TypeVar
T = TypeVar("T")
def float_literal(x: Literal[1.5]) -> Callable[[int], str]: ...
def not_imported(x: Optional[int]) -> "not python (" : ...
def generic(x: T) -> list[T]: ...
def type_var(x: T) -> list[T]: ...
class A(B): pass
class B(A): pass
def generic(x: int) -> str: ...
`,
    );
    const [result] = await readSignatures([path]);
    if (!result || "error" in result) throw new Error(JSON.stringify(result));
    const rendered = Object.fromEntries(result.module.functions.map((f) => [f.name, renderFunction(f)]));
    expect(rendered.float_literal).toBe("{ args: [x: unknown /* Literal[1.5] */]; kwargs: {}; result: unknown /* Callable[[int], str] */; yields: unknown /* Callable[[int], str] */ }");
    expect(rendered.not_imported).toBe("{ args: [x: unknown /* Optional[int] */]; kwargs: {}; result: unknown /* not python ( */; yields: unknown /* not python ( */ }");
    expect(rendered.type_var).toBe("{ args: [x: unknown /* T */]; kwargs: {}; result: unknown /* T */[]; yields: unknown /* T */[] }");
    // Defined twice: the later definition is the one the module ends up with.
    expect(result.module.functions.filter((f) => f.name === "generic")).toHaveLength(1);
    expect(rendered.generic).toBe("{ args: [x: number | bigint]; kwargs: {}; result: string; yields: string }");
    // A cycle of base classes (which Python itself refuses) does not loop.
    expect(result.module.classes.map((c) => c.name)).toEqual(["A", "B"]);
  }, 60_000);

  it("a file that cannot be parsed is an error for that file only", async () => {
    const results = await readSignatures([file("nul.py", Buffer.from("def f():\0\n")), file("fine.py", "def f(x: int) -> int: ...\n"), join(dir, "missing.py")]);
    expect(results[0]).toMatchObject({ error: { message: expect.stringContaining("null bytes") } });
    expect(results[1]).toMatchObject({ module: { functions: [{ name: "f" }] } });
    expect(results[2]).toMatchObject({ error: { message: expect.stringContaining("cannot read") } });
  }, 60_000);
});
