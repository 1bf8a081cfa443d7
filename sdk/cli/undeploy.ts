/** `ferry undeploy <name> | --all`: deletes endpoints and their state entries. */
import type { CommandModule } from "./context.ts";

export const undeployCommand: CommandModule = (program, ctx) => {
  program
    .command("undeploy")
    .description("Delete a deployed endpoint and its state entry")
    .argument("[name]", "resource name")
    .option("--all", "every endpoint in the state file")
    .action(async (name: string | undefined, opts: { all?: boolean }) => {
      const { FerryError } = await import("../errors.ts");
      if (!name && !opts.all) throw new FerryError("name a resource, or pass --all");
      if (name && opts.all) throw new FerryError("give a name or --all, not both");
      await ctx.connect();
      const { deployments, undeployResource } = await import("../deploy.ts");
      const names = opts.all ? (await deployments()).filter((r) => r.status !== "untracked").map((r) => r.name) : [name!];
      for (const n of names) {
        const result = await undeployResource(n);
        ctx.out(result.deleted ? `undeployed ${n}${result.endpointId ? ` (${result.endpointId})` : ""}\n` : `${n}: nothing deployed under that name\n`);
      }
      if (opts.all && names.length === 0) ctx.out("nothing to undeploy\n");
    });
};
