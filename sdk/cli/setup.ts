/** `ferry setup`: chooses and records the runner's Python, installing Debian's packages as root where needed. */
import type { CommandModule } from "./context.ts";

export const setupCommand: CommandModule = (program, ctx) => {
  program
    .command("setup")
    .description("Choose a Python with what the runner needs and record it in ./.ferry/python (as root on Debian/Ubuntu: install the packages); exit 1 when it cannot")
    .option("--no-apt", "never run apt-get, only say what to install")
    .action(async (opts: { apt: boolean }) => {
      const { runSetup } = await import("../setup/setup.ts");
      const ok = runSetup({ out: ctx.out, ...(opts.apt ? {} : { allowApt: false }) });
      if (!ok) ctx.fail();
    });
};
