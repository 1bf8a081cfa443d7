// `make examples`: runs every example that works offline, one after another, each in its own
// process (`node_modules/.bin/tsx examples/<name>.ts`) with a time limit; one line per example,
// then "N passed, N failed"; exit 1 if any failed. An example passes when it exits 0 on its own.
//
//   node scripts/run-examples.mjs                  all of them
//   node scripts/run-examples.mjs class streaming  only these
//   node scripts/run-examples.mjs --verbose        also print what each one prints
//
// Calls go to the local server (FERRY_TARGET=local) even when RUNPOD_API_KEY is set, so this never
// provisions paid endpoints; FERRY_TARGET=runpod in the environment overrides that.
// examples/dependencies-and-models.ts is not run: it needs PyPI and huggingface.co.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const EXAMPLES = ["quickstart", "first-call", "function", "class", "streaming", "progress", "cancel-timeout", "deploy-runpod", "runpod-sdk-client", "python-sdk-job"];
const LIMIT_MS = Number(process.env.FERRY_EXAMPLE_TIMEOUT_MS ?? 60_000);

const args = process.argv.slice(2);
const verbose = args.includes("--verbose") || args.includes("-v");
const picked = args.filter((a) => !a.startsWith("-")).map((a) => a.replace(/^examples\//, "").replace(/\.ts$/, ""));
const unknown = picked.filter((name) => !EXAMPLES.includes(name));
if (unknown.length) {
  console.error(`unknown example(s): ${unknown.join(", ")} (offline examples: ${EXAMPLES.join(", ")})`);
  process.exit(2);
}
const tsx = join(root, "node_modules", ".bin", "tsx");
for (const [path, fix] of [[tsx, "npm ci"], [join(root, "dist", "handler.mjs"), "make build"]]) {
  if (!existsSync(path)) {
    console.error(`${path} is missing: run \`${fix}\` (or \`make examples\`, which builds first)`);
    process.exit(2);
  }
}

function runExample(name) {
  const started = performance.now();
  return new Promise((resolve) => {
    // Its own process group, so a timeout kills the example and every worker it started.
    const child = spawn(tsx, [join("examples", `${name}.ts`)], {
      cwd: root,
      env: { ...process.env, FERRY_TARGET: process.env.FERRY_TARGET ?? "local" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    const collect = (chunk) => {
      output += chunk.toString();
      if (verbose) process.stdout.write(chunk);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, LIMIT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      // 13 is Node's "unsettled top-level await": the event loop ran dry while the module still
      // awaited a promise (one nothing was left to settle).
      const exit = code === 13 ? "exit 13 (a top-level await never settled)" : `exit ${code ?? signal}`;
      const problem = timedOut ? `did not finish within ${LIMIT_MS / 1000} s` : code !== 0 ? exit : undefined;
      resolve({ name, ms, problem, output });
    });
  });
}

let passed = 0;
let failed = 0;
for (const name of picked.length ? picked : EXAMPLES) {
  if (verbose) console.log(`--- examples/${name}.ts`);
  const { ms, problem, output } = await runExample(name);
  const took = `(${(ms / 1000).toFixed(1)} s)`;
  if (!problem) {
    passed += 1;
    console.log(`PASS ${name}.ts ${took}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}.ts ${took}: ${problem}`);
    // The end of its output says why (already printed in full with --verbose).
    if (!verbose) for (const line of output.trimEnd().split("\n").slice(-15)) console.log(`  | ${line}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
