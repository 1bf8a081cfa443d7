/**
 * The `ferry types [paths...]` command: generate (default), `--check` for CI (exit 1 when a
 * generated module is missing or stale), `--watch` to regenerate as the Python changes.
 */
import { watch, type FSWatcher } from "node:fs";
import { dirname, resolve } from "node:path";
import { Command } from "commander";
import { FerryError } from "../errors.ts";
import { generateTypes, type GenerateReport } from "./generate.ts";

type Write = (text: string) => void;

function printFailures(report: GenerateReport, err: Write): void {
  for (const f of report.failures) err(`${f.file}:${f.line}:${f.column}: ${f.message} (no types generated for this file)\n`);
}

async function generateOnce(paths: string[], err: Write, out: Write): Promise<GenerateReport> {
  const report = await generateTypes(paths);
  printFailures(report, err);
  for (const path of report.changed) out(`wrote ${path}\n`);
  out(`ferry types: ${report.files.length - report.failures.length} of ${report.files.length} Python file${report.files.length === 1 ? "" : "s"} typed, ${report.changed.length} file${report.changed.length === 1 ? "" : "s"} written\n`);
  return report;
}

async function check(paths: string[], err: Write, out: Write): Promise<void> {
  const report = await generateTypes(paths, { check: true });
  printFailures(report, err);
  for (const path of report.changed) err(`stale: ${path}\n`);
  if (report.changed.length) throw new FerryError(`${report.changed.length} generated file${report.changed.length === 1 ? " is" : "s are"} missing or stale: run \`ferry types\``);
  if (report.failures.length) throw new FerryError(`${report.failures.length} Python file${report.failures.length === 1 ? "" : "s"} could not be read`);
  out(`ferry types: ${report.files.length} Python file${report.files.length === 1 ? "" : "s"}, declarations up to date\n`);
}

/** Regenerates whenever a `.py` file under the paths changes; resolves when `signal` aborts. */
async function watchTypes(paths: string[], err: Write, out: Write, signal: AbortSignal): Promise<void> {
  const run = () => generateOnce(paths, err, out).catch((error: unknown) => err(`ferry types: ${error instanceof Error ? error.message : String(error)}\n`));
  await run();
  // Changes arrive in bursts (an editor writes, renames, touches); one run follows each burst.
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const changed = (file: string | null) => {
    if (file && !file.endsWith(".py")) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(run);
    }, 100);
  };
  const roots = [...new Set((paths.length ? paths : ["."]).map((p) => resolve(p)).map((p) => (p.endsWith(".py") ? dirname(p) : p)))];
  const watchers: FSWatcher[] = roots.map((root) => watch(root, { recursive: true }, (_event, file) => changed(file)));
  out(`ferry types: watching ${roots.length} folder${roots.length === 1 ? "" : "s"} for Python changes (Ctrl-C stops)\n`);
  await new Promise<void>((done) => signal.addEventListener("abort", () => done(), { once: true }));
  clearTimeout(timer);
  for (const w of watchers) w.close();
  await running;
}

export function typesCommand(out: Write, err: Write = (t) => void process.stderr.write(t)): Command {
  return new Command("types")
    .description("Generate TypeScript types from the annotations of Python files: name.py -> name.ferry.d.ts + name.ferry.js (nothing is executed)")
    .argument("[paths...]", ".py files or folders (default: the current folder)")
    .option("--check", "write nothing; exit 1 when a generated file is missing or stale (for CI)")
    .option("--watch", "regenerate whenever a Python file changes")
    .action(async (paths: string[], opts: { check?: boolean; watch?: boolean }) => {
      if (opts.check && opts.watch) throw new FerryError("give --check or --watch, not both");
      if (opts.check) return check(paths, err, out);
      if (opts.watch) {
        const stop = new AbortController();
        for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => stop.abort());
        return watchTypes(paths, err, out, stop.signal);
      }
      const report = await generateOnce(paths, err, out);
      if (report.failures.length) throw new FerryError(`${report.failures.length} Python file${report.failures.length === 1 ? "" : "s"} could not be read; the others were typed`);
    });
}
