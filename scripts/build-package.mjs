// `npm run build`: the whole package in dist/. The worker bundle and the Python runner
// (images/build.mjs: dist/handler.mjs, dist/python/), then the SDK, the CLI and protocol/ as
// ESM JavaScript with declarations and source maps (tsc -p tsconfig.build.json: dist/sdk/,
// dist/protocol/), then the API reference in docs/api/ (scripts/api-docs.mjs; --no-docs skips
// it). Other arguments are passed to images/build.mjs (--check, --quiet).
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quiet = process.argv.includes("--quiet");
const docs = !process.argv.includes("--no-docs");
const step = (what, command, args) => {
  const started = performance.now();
  execFileSync(command, args, { cwd: root, stdio: "inherit" });
  if (!quiet) console.log(`build: ${what} ${(performance.now() - started).toFixed(0)} ms`);
};

step("worker bundle", process.execPath, [join(root, "images/build.mjs"), ...process.argv.slice(2).filter((a) => a !== "--no-docs")]);
// Output of modules that no longer exist must not ship: the SDK's folders are rebuilt whole.
for (const dir of ["sdk", "protocol"]) rmSync(join(root, "dist", dir), { recursive: true, force: true });
step("SDK + CLI (tsc)", process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"]);
chmodSync(join(root, "dist/sdk/cli/main.js"), 0o755);
// `ferry types` runs its annotation reader (Python) from beside its module.
cpSync(join(root, "sdk/python-types"), join(root, "dist/sdk/python-types"), { recursive: true, filter: (src) => !src.endsWith(".ts") && !src.includes("__pycache__") });
if (docs) step("API reference (typedoc -> docs/api/)", process.execPath, [join(root, "scripts/api-docs.mjs")]);
