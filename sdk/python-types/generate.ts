/**
 * `ferry types`: finds the Python files of a project, reads their signatures (with the Python
 * Ferry uses, nothing executed) and writes one generated module next to each file:
 * `name.py` -> `name.ferry.d.ts` + `name.ferry.js`. A file that cannot be parsed is reported
 * with its line and skipped; the others are still written. `check` writes nothing and reports
 * which generated files differ from what the Python says now.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { FerryError } from "../errors.ts";
import { renderDeclarations, renderModule } from "./declarations.ts";
import { ReadResultSchema, type ReadResult } from "./signatures.ts";

/** The annotation reader (with its sibling `annotation_types.py`) ships next to this module, and must be copied next to it in a build. */
export const READER_SCRIPT = fileURLToPath(new URL("./read_annotations.py", import.meta.url));

/** Folders that hold no project sources: environments, caches, dependencies. */
const SKIPPED_DIRS = new Set(["node_modules", "__pycache__", "site-packages", "venv", "dist", "build"]);

export interface GenerateOptions {
  /** Write nothing; report the generated files that are missing or differ. */
  check?: boolean;
  python?: string;
  /** Paths in messages are relative to this folder. */
  cwd?: string;
}

export interface ParseFailure {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface GenerateReport {
  /** Python files read. */
  files: string[];
  /** Generated files written (or, with `check`, the ones that are missing or stale). */
  changed: string[];
  failures: ParseFailure[];
}

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory()) {
      if (!entry.name.startsWith(".") && !SKIPPED_DIRS.has(entry.name)) walk(join(dir, entry.name), out);
    } else if (entry.isFile() && entry.name.endsWith(".py")) {
      out.push(join(dir, entry.name));
    }
  }
}

/** The `.py` files named, and those under the folders named; absolute paths, each once. */
export function pythonFiles(paths: string[], cwd = process.cwd()): string[] {
  const out: string[] = [];
  for (const path of paths.length ? paths : ["."]) {
    const full = resolve(cwd, path);
    if (!existsSync(full)) throw new FerryError(`ferry types: ${path} does not exist`);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (full.endsWith(".py")) out.push(full);
    else throw new FerryError(`ferry types: ${path} is not a .py file or a folder`);
  }
  return [...new Set(out)];
}

/** Runs the annotation reader on these files: one Python process for all of them. */
export async function readSignatures(files: string[], python = runnerPython()): Promise<ReadResult[]> {
  if (files.length === 0) return [];
  // -B: no __pycache__ written into the installed package.
  const run = await execa(python, ["-B", READER_SCRIPT, ...files], { reject: false, stripFinalNewline: false, maxBuffer: 256 * 1024 * 1024 });
  if (run.failed) {
    const why = run.code === "ENOENT" ? `${python} was not found (set FERRY_PYTHON to a Python 3.9+)` : (run.stderr.trim().split("\n").pop() ?? run.shortMessage);
    throw new FerryError(`ferry types: the annotation reader failed: ${why}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(run.stdout);
  } catch {
    throw new FerryError(`ferry types: the annotation reader printed something that is not JSON: ${run.stdout.slice(0, 200)}`);
  }
  const parsed = ReadResultSchema.safeParse(json);
  if (!parsed.success) throw new FerryError(`ferry types: the annotation reader's output does not match its schema: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Where a Python file's generated module lives: `name.ferry.d.ts` and `name.ferry.js` beside it. */
export function generatedPaths(pythonFile: string): { declarations: string; module: string } {
  const stem = join(dirname(pythonFile), basename(pythonFile, ".py"));
  return { declarations: `${stem}.ferry.d.ts`, module: `${stem}.ferry.js` };
}

function differs(path: string, text: string): boolean {
  return !existsSync(path) || readFileSync(path, "utf8") !== text;
}

export async function generateTypes(paths: string[], options: GenerateOptions = {}): Promise<GenerateReport> {
  const cwd = options.cwd ?? process.cwd();
  const files = pythonFiles(paths, cwd);
  const results = await readSignatures(files, options.python);
  const report: GenerateReport = { files: files.map((f) => relative(cwd, f)), changed: [], failures: [] };
  for (const result of results) {
    if ("error" in result) {
      report.failures.push({ file: relative(cwd, result.path), ...result.error });
      continue;
    }
    const name = basename(result.path);
    const out = generatedPaths(result.path);
    for (const [path, text] of [
      [out.declarations, renderDeclarations(name, result.module)],
      [out.module, renderModule(name, result.module)],
    ] as const) {
      if (!differs(path, text)) continue;
      report.changed.push(relative(cwd, path));
      if (!options.check) writeFileSync(path, text);
    }
  }
  return report;
}
