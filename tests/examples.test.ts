// `make examples` inside `make test`: every offline example runs as its own process (each starts
// its own in-process local server and real workers) and must exit 0 on its own, within its limit.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

describe("examples/", () => {
  it("scripts/run-examples.mjs runs every offline example and they all pass", async () => {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(process.execPath, ["scripts/run-examples.mjs"], { cwd: root, timeout: 150_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, output: `${stdout}${stderr}` });
      });
    });
    // The whole report in the failure message: which example failed, and the end of its output.
    expect(output).toMatch(/^\d+ passed, 0 failed$/m);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^PASS quickstart\.ts /m);
  }, 160_000);
});
