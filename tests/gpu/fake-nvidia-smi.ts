/**
 * A stand-in for `nvidia-smi` that the tests put first on PATH. It is a real executable (a
 * Node script), speaks the real tool's command line for `--query-gpu`, and answers from a
 * scenario file beside it, so discovery runs exactly as on a GPU machine: process spawn, PATH
 * lookup, arguments, CSV on stdout, exit codes.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino, type Logger } from "pino";

export interface FakeGpu {
  name: string;
  memoryTotalMiB: number | string;
  memoryUsedMiB: number | string;
  driverVersion: string;
  computeCap: string;
}

export type FakeScenario =
  | { mode: "gpus"; gpus: FakeGpu[]; rejectComputeCap?: boolean }
  /** Prints these lines as the query's answer, whatever was asked. */
  | { mode: "raw"; stdout: string }
  /** The driver is not loaded or does not answer (what a broken driver install prints). */
  | { mode: "driver-failure" }
  | { mode: "hang" };

/** The script: argument checks and output formats follow nvidia-smi's own. */
const SCRIPT = String.raw`
const fs = require("node:fs");
const path = require("node:path");
const here = path.dirname(fs.realpathSync(process.argv[1]));
const scenario = JSON.parse(fs.readFileSync(path.join(here, "scenario.json"), "utf8"));
const args = process.argv.slice(2);
fs.appendFileSync(path.join(here, "calls.log"), JSON.stringify(args) + "\n");

const KNOWN = {
  index: (g, i) => String(i),
  name: (g) => g.name,
  "memory.total": (g, i, units) => units ? String(g.memoryTotalMiB) : g.memoryTotalMiB + " MiB",
  "memory.used": (g, i, units) => units ? String(g.memoryUsedMiB) : g.memoryUsedMiB + " MiB",
  driver_version: (g) => g.driverVersion,
  compute_cap: (g) => g.computeCap,
};
const HEADER = { "memory.total": "memory.total [MiB]", "memory.used": "memory.used [MiB]" };

if (scenario.mode === "driver-failure") {
  process.stdout.write("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n");
  process.exit(9);
}
if (scenario.mode === "hang") { setTimeout(() => {}, 60000); return; }

const query = args.find((a) => a.startsWith("--query-gpu="));
const format = args.find((a) => a.startsWith("--format="));
if (!query) {
  process.stdout.write("NVIDIA-SMI (fake): only --query-gpu is implemented\n");
  process.exit(2);
}
if (!format) {
  process.stdout.write("Format must be specified for the query. See nvidia-smi -h for more information.\n");
  process.exit(2);
}
const fields = query.slice("--query-gpu=".length).split(",");
const options = format.slice("--format=".length).split(",");
if (!options.includes("csv")) {
  process.stdout.write("Only CSV format is supported for the query. See nvidia-smi -h for more information.\n");
  process.exit(2);
}
for (const f of fields) {
  if (!(f in KNOWN) || (f === "compute_cap" && scenario.rejectComputeCap)) {
    process.stdout.write('Field "' + f + '" is not a valid field to query.\n\n');
    process.exit(2);
  }
}
if (scenario.mode === "raw") { process.stdout.write(scenario.stdout); process.exit(0); }
const units = !options.includes("nounits");
const lines = [];
if (!options.includes("noheader")) lines.push(fields.map((f) => HEADER[f] || f).join(", "));
scenario.gpus.forEach((g, i) => lines.push(fields.map((f) => KNOWN[f](g, i, !units)).join(", ")));
process.stdout.write(lines.join("\n") + "\n");
`;

export interface FakeNvidiaSmi {
  /** Directory holding the `nvidia-smi` executable: put it first on PATH. */
  dir: string;
  /** An environment with the fake first on PATH. */
  env: NodeJS.ProcessEnv;
  setScenario(scenario: FakeScenario): void;
  /** The argument lists the fake was called with, oldest first. */
  calls(): string[][];
  remove(): void;
}

export function installFakeNvidiaSmi(scenario: FakeScenario): FakeNvidiaSmi {
  const dir = mkdtempSync(join(tmpdir(), "ferry-fake-nvidia-smi-"));
  const script = join(dir, "nvidia-smi");
  writeFileSync(script, `#!${process.execPath}\n${SCRIPT}`);
  chmodSync(script, 0o755);
  const fake: FakeNvidiaSmi = {
    dir,
    env: { PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}` },
    setScenario(s) {
      writeFileSync(join(dir, "scenario.json"), JSON.stringify(s));
    },
    calls() {
      try {
        return readFileSync(join(dir, "calls.log"), "utf8")
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l) as string[]);
      } catch {
        return [];
      }
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  fake.setScenario(scenario);
  return fake;
}

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A debug-level logger whose records the test can read. */
export function capturingLogger(): { logger: Logger; records: LogRecord[]; messages(level?: number): string[] } {
  const records: LogRecord[] = [];
  const logger = pino(
    { level: "debug", base: null },
    {
      write(line: string) {
        records.push(JSON.parse(line) as LogRecord);
      },
    },
  );
  return {
    logger,
    records,
    messages: (level) => records.filter((r) => level === undefined || r.level === level).map((r) => r.msg),
  };
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;
