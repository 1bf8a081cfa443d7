// The README is a manual: its code must be real. Every TypeScript block is an excerpt of an
// example that `make examples` runs (and tsc checks); every shell command names a real make
// target or ferry subcommand, and the worker command it shows is run here.
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const readme = readFileSync("README.md", "utf8");
const blocks = [...readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));
const shellLines = blocks
  .filter((b) => b.lang === "sh")
  .flatMap((b) => b.body.split("\n"))
  .map((l) => l.replace(/\s+#.*$/, "").trim())
  .filter(Boolean);

const exampleFiles = readdirSync("examples").filter((f) => f.endsWith(".ts"));
const exampleLines = exampleFiles.map((f) => readFileSync(`examples/${f}`, "utf8").split("\n").map((l) => l.trim()));
const makeTargets = new Set([...readFileSync("Makefile", "utf8").matchAll(/^([a-z][a-z-]*):/gm)].map((m) => m[1]!));

/** An example imports the sources (`../sdk/index.ts`); the README shows the import a project writes (`"ferry"`). */
function quotedInAnExample(block: string): boolean {
  const lines = block.split("\n").map((l) => l.trim().replace(/ from "ferry";$/, ' from "../sdk/index.ts";')).filter(Boolean);
  return exampleLines.some((file) => file.some((_, i) => lines.every((line, j) => file[i + j] === line)));
}

describe("README", () => {
  it("shows make demo and make test on its first screen", () => {
    const firstScreen = readme.split("\n").slice(0, 15).join("\n");
    expect(firstScreen).toContain("make demo");
    expect(firstScreen).toContain("make test");
  });

  it("shows how to use it in a project: npm install, doctor, and the first call importing from the package", () => {
    const section = readme.slice(readme.indexOf("## Use it in your project"), readme.indexOf("\n## ", readme.indexOf("## Use it in your project") + 1));
    expect(section).toContain("npm install ferry\n");
    expect(section).toContain("npx ferry doctor");
    const first = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatch(/^import \{[^}]*\bremote\b[^}]*\} from "ferry";$/m);
    expect(first[0]).toMatch(/await add\(2, 3\)/);
  });

  it("quotes every TypeScript block from an example file", () => {
    const ts = blocks.filter((b) => b.lang === "ts");
    expect(ts.length).toBeGreaterThan(3);
    for (const block of ts) expect(quotedInAnExample(block.body), block.body).toBe(true);
  });

  it("names only make targets that exist", () => {
    const used = shellLines.filter((l) => l.startsWith("make ")).map((l) => l.split(/\s+/)[1]!);
    expect(used.length).toBeGreaterThan(5);
    for (const target of used) expect(makeTargets.has(target), target).toBe(true);
  });

  it("names only ferry subcommands that answer --help", async () => {
    const subcommands = [...new Set(shellLines.filter((l) => l.startsWith("npx ferry ")).map((l) => l.split(/\s+/)[2]!))];
    expect(subcommands.length).toBeGreaterThan(3);
    for (const sub of subcommands) {
      const { stdout } = await run(process.execPath, ["bin/ferry.mjs", sub, "--help"]);
      expect(stdout, sub).toContain(sub);
    }
  });

  it("runs the worker command it shows, and the job answers 42", async () => {
    const line = shellLines.find((l) => l.startsWith("node dist/handler.mjs --test_input"))!;
    const json = line.slice(line.indexOf("'") + 1, line.lastIndexOf("'"));
    const outFile = join(mkdtempSync(join(tmpdir(), "ferry-readme-")), "out.json");
    const { stderr } = await run(process.execPath, ["dist/handler.mjs", "--test_input", json, "--test_output", outFile, "--rp_log_level", "WARN"]);
    const output = JSON.parse(readFileSync(outFile, "utf8")) as { success: boolean; result: string };
    expect(output.success, stderr).toBe(true);
    expect(output.result).toBe("gAVLKi4="); // pickle of 42
  });
});
