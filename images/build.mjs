// Bundles the worker into dist/handler.mjs (one file, no node_modules needed at run time),
// copies the Python runner beside it, and builds the local server's dashboard into
// dist/dashboard/ (images/build-dashboard.mjs). Prints the bundle's size and, with --check, its start
// time to "ready" (the Python child answering). --worker-only leaves the dashboard out: the
// images' build stage has only the worker's sources in its context.
import { build } from "esbuild";
import { cpSync, mkdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const quiet = process.argv.includes("--quiet");
const check = process.argv.includes("--check");
const workerOnly = process.argv.includes("--worker-only");

// dist/python is overwritten in place, not deleted first: other processes may be running the worker.
mkdirSync(dist, { recursive: true });

await build({
  entryPoints: [join(root, "handler/main.ts")],
  outfile: join(dist, "handler.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  // Some dependencies are CommonJS and call require(); an ESM bundle needs one made for it.
  banner: {
    js: "import { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);",
  },
  define: { FERRY_VERSION: JSON.stringify(process.env.npm_package_version ?? "0.1.0") },
});
cpSync(join(root, "handler/python"), join(dist, "python"), {
  recursive: true,
  filter: (src) => !src.includes("__pycache__") && !src.endsWith(".pyc"),
});

if (!workerOnly) {
  const { buildDashboard } = await import("./build-dashboard.mjs");
  await buildDashboard({ quiet });
}

const sizeKiB = statSync(join(dist, "handler.mjs")).size / 1024;
if (!quiet) console.log(`build: dist/handler.mjs ${sizeKiB.toFixed(0)} KiB, runner in dist/python/`);

if (check) {
  const started = performance.now();
  const run = spawnSync(process.execPath, [join(dist, "handler.mjs"), "--check"], { encoding: "utf8", cwd: root });
  const ms = performance.now() - started;
  if (run.status !== 0) {
    console.error(run.stdout, run.stderr);
    console.error("build: the bundle failed its start check");
    process.exit(1);
  }
  console.log(`build: start to ready (worker + Python child) ${ms.toFixed(0)} ms`);
}
