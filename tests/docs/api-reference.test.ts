// The API reference (docs/api/) is generated from the JSDoc of every export of the package entry:
// an export without documentation fails the generation, and a reference that differs from what
// the sources generate fails here (scripts/api-docs.mjs --check).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("docs/api", () => {
  it("is what typedoc generates from the sources today, with every export documented", async () => {
    const { stdout } = await run(process.execPath, ["scripts/api-docs.mjs", "--check"], { timeout: 300_000 }).catch((e: { stdout?: string; stderr?: string }) => {
      throw new Error(`${e.stdout ?? ""}${e.stderr ?? String(e)}`);
    });
    expect(stdout).toContain("docs/api/ matches the sources");
  }, 300_000);
});
