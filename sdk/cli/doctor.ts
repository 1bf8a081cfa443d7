/** `ferry doctor`: what the local default needs and what is missing, with the fix for each miss. */
import type { CommandModule } from "./context.ts";

export const doctorCommand: CommandModule = (program, ctx) => {
  program
    .command("doctor")
    .description("Check what the local default needs (Node, the worker, Python and its modules, disk, RunPod key); exit 1 when something is missing")
    .option("--json", "print the checks as JSON")
    .action(async (opts: { json?: boolean }) => {
      const [{ runDoctor, formatDoctor }, { json }] = await Promise.all([import("../setup/doctor.ts"), import("./context.ts")]);
      const report = runDoctor({ ...(ctx.global().stateDir ? { stateDir: ctx.global().stateDir } : {}) });
      ctx.out(opts.json ? json(report) : formatDoctor(report));
      if (!report.ok) ctx.fail();
    });
};
