/**
 * Where the installed Ferry package lives: the nearest folder above this module that holds a
 * package.json. The same walk works from the sources (`<root>/sdk/`) and from the build
 * (`<root>/dist/sdk/`), in a checkout and under a user's node_modules, and never looks at the
 * working directory.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}: Ferry's installation is incomplete`);
  }
}

/** The folder holding Ferry's package.json, `dist/` and (in a checkout) the sources. */
export const PACKAGE_ROOT: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** The worker bundle the local server starts: `<package>/dist/handler.mjs` (`npm run build` writes it). */
export const WORKER_BUNDLE: string = join(PACKAGE_ROOT, "dist", "handler.mjs");
