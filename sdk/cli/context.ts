/**
 * What every CLI command gets: where its output goes, the global options, and a lazily loaded
 * SDK runtime. Commands load their implementation inside their action, so `ferry --help` reads
 * only commander and these small modules.
 */
import type { Command } from "commander";

export interface GlobalOptions {
  target?: "local" | "runpod";
  stateDir?: string;
}

export interface CliContext {
  /** Standard output (tests capture it). */
  out(text: string): void;
  /** The options given before the command name (`--target`, `--state-dir`). */
  global(): GlobalOptions;
  /** Configures the SDK for this command's target and answers its runtime module. */
  connect(): Promise<typeof import("../runtime.ts")>;
  /** The exit code the command wants besides success (1 = something is wrong or missing). */
  fail(code?: number): void;
}

/** One subcommand: adds itself (name, arguments, options, action) to the program. */
export type CommandModule = (program: Command, ctx: CliContext) => void;

/** Rows of cells as aligned columns, the first row the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** A value as pretty JSON on its own lines (`--json` output). */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
