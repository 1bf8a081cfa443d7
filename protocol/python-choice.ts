/**
 * Which Python runs the runner, and why: FERRY_PYTHON; else the interpreter recorded in
 * `.ferry/python` (by `make setup` or `ferry setup`) of the working directory, else of the
 * package's own folder; else `python3` on PATH (the worker images put the right one there).
 * The worker starts the interpreter this names; `ferry doctor` reports the same answer.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type PythonSource = "FERRY_PYTHON" | "recorded" | "PATH";

export interface PythonChoice {
  python: string;
  source: PythonSource;
  /** The `.ferry/python` file read, when the choice was recorded. */
  recordFile?: string;
}

/** The file a recorded choice lives in, under `dir`. */
export function pythonRecordFile(dir: string): string {
  return join(dir, ".ferry", "python");
}

function recordedPython(dir: string): string | undefined {
  const file = pythonRecordFile(dir);
  if (!existsSync(file)) return undefined;
  return readFileSync(file, "utf8").trim() || undefined;
}

export function choosePython(options: { env: NodeJS.ProcessEnv; cwd: string; packageRoot: string }): PythonChoice {
  const fromEnv = options.env.FERRY_PYTHON;
  if (fromEnv) return { python: fromEnv, source: "FERRY_PYTHON" };
  for (const dir of [options.cwd, options.packageRoot]) {
    const recorded = recordedPython(dir);
    if (recorded) return { python: recorded, source: "recorded", recordFile: pythonRecordFile(dir) };
  }
  return { python: "python3", source: "PATH" };
}
