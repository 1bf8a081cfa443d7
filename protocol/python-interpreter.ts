/**
 * Which Python runs the runner (and the annotation reader of `ferry types`); the rules are in
 * python-choice.ts. The package's own folder is found by walking up to its package.json, which
 * works from the sources, the worker bundle (`dist/handler.mjs`) and the SDK build (`dist/protocol/`).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { choosePython } from "./python-choice.ts";

function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    // A bundle copied out on its own (a worker image): its folder stands for the package.
    if (dirname(dir) === dir) return start;
  }
}

export function runnerPython(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return choosePython({ env, cwd, packageRoot: packageRoot() }).python;
}
