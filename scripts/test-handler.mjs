// `make test-handler`: every test-inputs/test_*.json job through the built worker
// (`node dist/handler.mjs --test_input ...`), one line per fixture, then "N passed, N failed".
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { checkFixture } from "./fixture-check.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const handler = join(root, "dist", "handler.mjs");
const python = process.env.FERRY_PYTHON ?? (existsSync(join(root, ".ferry/python")) ? readFileSync(join(root, ".ferry/python"), "utf8").trim() : "python3");
const fixtures = readdirSync(join(root, "test-inputs")).filter((f) => /^test_.*\.json$/.test(f)).sort();
const scratch = mkdtempSync(join(tmpdir(), "ferry-test-handler-"));

function runFixture(name) {
  const fixture = JSON.parse(readFileSync(join(root, "test-inputs", name), "utf8"));
  const outFile = join(scratch, `${name}.out.json`);
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [handler, "--test_input", JSON.stringify({ input: fixture.input }), "--test_output", outFile, "--rp_log_level", "WARN"],
      { cwd: scratch, env: { ...process.env, FERRY_PYTHON: python }, timeout: 60_000 },
      (error, _stdout, stderr) => {
        const exitCode = error ? (error.code ?? 1) : 0;
        let output;
        try {
          output = JSON.parse(readFileSync(outFile, "utf8"));
        } catch {
          output = undefined;
        }
        const problems = checkFixture(fixture, output, exitCode, python);
        if (!output && stderr) problems.push(stderr.trim().split("\n").slice(-3).join(" | "));
        resolve({ name, problems, ms: performance.now() - started });
      },
    );
  });
}

let passed = 0;
let failed = 0;
for (const name of fixtures) {
  const { problems, ms } = await runFixture(name);
  if (problems.length === 0) {
    passed += 1;
    console.log(`PASS ${name} (${ms.toFixed(0)} ms)`);
  } else {
    failed += 1;
    console.log(`FAIL ${name} (${ms.toFixed(0)} ms): ${problems.join("; ")}`);
  }
}
rmSync(scratch, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
