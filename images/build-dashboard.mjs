// Builds the local server's dashboard into dist/dashboard/: the Preact + htm page bundled by
// esbuild into one app.js, beside its index.html and style.css. Nothing is fetched at run time
// (no CDN): the server serves these files itself. images/build.mjs runs it; it runs alone too.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "sdk/local-server/dashboard/ui");

export async function buildDashboard({ quiet = false } = {}) {
  const out = join(root, "dist/dashboard");
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(source, "app.ts")],
    outfile: join(out, "app.js"),
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2020",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  for (const file of ["index.html", "style.css"]) copyFileSync(join(source, file), join(out, file));
  if (!quiet) console.log(`build: dist/dashboard/app.js ${(statSync(join(out, "app.js")).size / 1024).toFixed(0)} KiB (dashboard)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildDashboard({ quiet: process.argv.includes("--quiet") });
