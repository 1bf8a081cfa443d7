/**
 * Which Python runs the runner: FERRY_PYTHON, else the interpreter `make setup` chose
 * (recorded in .ferry/python), else `python3` on PATH (the worker images put the right one there).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export function runnerPython(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (env.FERRY_PYTHON) return env.FERRY_PYTHON;
  const recorded = join(cwd, ".ferry", "python");
  if (existsSync(recorded)) {
    const path = readFileSync(recorded, "utf8").trim();
    if (path) return path;
  }
  return "python3";
}
