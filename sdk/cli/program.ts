/**
 * The `ferry` command line: global options, every subcommand from `commands.ts`, and the exit
 * codes scripts test: 0 success, 1 a failure (or `doctor` found something missing), 2 a usage
 * error. The target (RunPod or local) follows the same rules as calls: RUNPOD_API_KEY set ->
 * RunPod, else local; `--target` or FERRY_TARGET forces one.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { VERSION } from "../version.ts";
import { COMMANDS } from "./commands.ts";
import type { CliContext, GlobalOptions } from "./context.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function targetOption(value: string): "local" | "runpod" {
  if (value !== "local" && value !== "runpod") throw new InvalidArgumentError('use "local" or "runpod"');
  return value;
}

export interface Cli {
  program: Command;
  /** The exit code commands asked for (0 unless one called `ctx.fail`). */
  exitCode(): number;
  /** Whether a command loaded the SDK runtime (then it must be shut down). */
  connected(): boolean;
}

export function buildCli(out: (text: string) => void = (t) => void process.stdout.write(t)): Cli {
  const program = new Command();
  let exitCode = EXIT_OK;
  let connected = false;
  const ctx: CliContext = {
    out,
    global: () => program.opts<GlobalOptions>(),
    fail: (code = EXIT_FAILURE) => void (exitCode = code),
    connect: async () => {
      const runtime = await import("../runtime.ts");
      const g = program.opts<GlobalOptions>();
      await runtime.configure({ target: g.target, stateDir: g.stateDir, onLog: false, quiet: true });
      connected = true;
      return runtime;
    },
  };
  program
    .name("ferry")
    .description("Run Python functions and classes on serverless GPUs from TypeScript (RunPod Serverless, or a local RunPod-compatible server).")
    .version(VERSION, "-V, --version", "print Ferry's version")
    .option("--target <target>", "local or runpod (default: runpod when a RunPod API key is found, else local; FERRY_TARGET overrides)", targetOption)
    .option("--state-dir <dir>", "where .ferry state lives (default ./.ferry, or FERRY_STATE_DIR)")
    .addHelpText("after", "\nExit codes: 0 success, 1 failure (doctor: something is missing), 2 usage error.")
    .showHelpAfterError();
  for (const register of COMMANDS) register(program, ctx);
  return { program, exitCode: () => exitCode, connected: () => connected };
}

/** The program alone, for tests that read its commands and help. */
export function buildProgram(out?: (text: string) => void): Command {
  return buildCli(out).program;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const cli = buildCli();
  const program = cli.program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync(argv);
    return cli.exitCode();
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the help, the version or the usage error already.
      return error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help" ? EXIT_OK : EXIT_USAGE;
    }
    const { FerryError } = await import("../errors.ts");
    if (error instanceof FerryError) process.stderr.write(`ferry: ${error.message}\n`);
    else process.stderr.write(`ferry: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_FAILURE;
  } finally {
    if (cli.connected()) await (await import("../runtime.ts")).shutdown();
  }
}
