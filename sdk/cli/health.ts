/** `ferry health <name>`: an endpoint's jobs and workers. */
import type { CommandModule } from "./context.ts";

export const healthCommand: CommandModule = (program, ctx) => {
  program
    .command("health")
    .description("Show an endpoint's jobs and workers (/health)")
    .argument("<name>", "resource name")
    .option("--json", "print the health as JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      await ctx.connect();
      const [{ endpointHealth }, { json }] = await Promise.all([import("../deploy.ts"), import("./context.ts")]);
      const { endpointId, health } = await endpointHealth(name);
      if (opts.json) return ctx.out(json({ name, endpointId, ...health }));
      ctx.out(`${name} (${endpointId})\n`);
      ctx.out(`  jobs     ${Object.entries(health.jobs).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
      ctx.out(`  workers  ${Object.entries(health.workers).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
    });
};
