/**
 * docs/internals.md is the newcomer's map: every repository path it names must exist, so a
 * file that moves or is renamed without the map fails here instead of misleading a reader.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const TOP_LEVEL = ["handler/", "sdk/", "protocol/", "tests/", "scripts/", "images/", "docs/", "examples/"];

/** Paths the page names, in backticks or in its diagrams: `sdk/call.ts`, handler/engine/, ... */
function namedPaths(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(/(?:^|[\s`(|])((?:handler|sdk|protocol|tests|scripts|images|docs|examples)\/[\w./-]*[\w/])/gm)) {
    const path = match[1]!;
    if (TOP_LEVEL.some((dir) => path.startsWith(dir))) found.add(path);
  }
  return [...found].sort();
}

describe("docs/internals.md", () => {
  const text = readFileSync(resolve(ROOT, "docs/internals.md"), "utf8");
  const paths = namedPaths(text);

  it("names the modules it maps", () => {
    // The map covers both halves and the contract between them.
    for (const path of ["protocol/wire.ts", "handler/engine/frames.ts", "sdk/call.ts", "sdk/local-server/"]) expect(paths).toContain(path);
  });

  it("names only paths that exist", () => {
    const missing = paths.filter((path) => !existsSync(resolve(ROOT, path)));
    expect(missing).toEqual([]);
  });
});
