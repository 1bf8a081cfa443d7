/**
 * The worker (`handler/`) and the client (`sdk/`) share only `protocol/`: neither imports the
 * other, and `protocol/` imports neither. This keeps the contract in one place and lets each half
 * be built and shipped alone (the worker as one esbuild bundle, the SDK as the npm package).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const IMPORT_SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|mjs|js)$/.test(entry.name))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** Top-level folders that a file's relative imports reach into. */
export function importedTopFolders(file: string, text: string): string[] {
  const tops: string[] = [];
  for (const match of text.matchAll(IMPORT_SPECIFIER)) {
    const target = relative(ROOT, resolve(ROOT, dirname(file), match[1]!));
    tops.push(target.split("/")[0]!);
  }
  return tops;
}

const FORBIDDEN: Record<string, string[]> = {
  handler: ["sdk"],
  sdk: ["handler"],
  protocol: ["sdk", "handler"],
};

describe("import boundaries", () => {
  for (const [folder, forbidden] of Object.entries(FORBIDDEN)) {
    it(`${folder}/ imports nothing from ${forbidden.join(" or ")}/`, () => {
      const offences: string[] = [];
      for (const file of sourceFiles(folder)) {
        const text = readFileSync(join(ROOT, file), "utf8");
        for (const top of importedTopFolders(file, text)) {
          if (forbidden.includes(top)) offences.push(`${file} -> ${top}/`);
        }
      }
      expect(offences).toEqual([]);
    });
  }

  it("sees a forbidden import when one is there", () => {
    expect(importedTopFolders("sdk/x.ts", 'import { y } from "../handler/y.ts";')).toEqual(["handler"]);
    expect(importedTopFolders("handler/a/b.ts", 'const m = await import("../../sdk/m.ts");')).toEqual(["sdk"]);
  });
});
