/**
 * `ferry types [paths...]`: TypeScript types from Python annotations. Declared here so that
 * `ferry --help` stays light; the command itself (`python-types/types-command.ts`, with its
 * Python reader) loads only when it runs, and gets the same arguments and options.
 */
import type { CommandModule } from "./context.ts";

export const typesCommand: CommandModule = (program, ctx) => {
  program
    .command("types")
    .description("Generate TypeScript types from the annotations of Python files: name.py -> name.ferry.d.ts + name.ferry.js (nothing is executed)")
    .argument("[paths...]", ".py files or folders (default: the current folder)")
    .option("--check", "write nothing; exit 1 when a generated file is missing or stale (for CI)")
    .option("--watch", "regenerate whenever a Python file changes")
    .action(async (paths: string[], opts: { check?: boolean; watch?: boolean }) => {
      const { typesCommand: command } = await import("../python-types/types-command.ts");
      const args = [...paths, ...(opts.check ? ["--check"] : []), ...(opts.watch ? ["--watch"] : [])];
      await command(ctx.out).exitOverride().parseAsync(args, { from: "user" });
    });
};
