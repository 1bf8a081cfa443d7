/**
 * Which Python runs the runner (and the annotation reader of `ferry types`): FERRY_PYTHON, else
 * the interpreter `make setup` chose (recorded in .ferry/python of the working directory or of the
 * checkout this code was built in), else `python3` on PATH (the worker images put the right one
 * there).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function recordedPython(dir: string): string | undefined {
  const file = join(dir, ".ferry", "python");
  if (!existsSync(file)) return undefined;
  return readFileSync(file, "utf8").trim() || undefined;
}

export function runnerPython(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (env.FERRY_PYTHON) return env.FERRY_PYTHON;
  // dist/handler.mjs and protocol/python-interpreter.ts both sit one level below the checkout.
  const checkout = join(dirname(fileURLToPath(import.meta.url)), "..");
  return recordedPython(cwd) ?? recordedPython(checkout) ?? "python3";
}
