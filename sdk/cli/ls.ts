/** `ferry ls`: deployed endpoints, the state file joined with the remote list. */
import type { CommandModule } from "./context.ts";

export const lsCommand: CommandModule = (program, ctx) => {
  program
    .command("ls")
    .description("List deployed endpoints: the state file joined with the remote list")
    .option("--json", "print the list as JSON")
    .action(async (opts: { json?: boolean }) => {
      const runtime = await ctx.connect();
      const [{ deployments }, { table, json }] = await Promise.all([import("../deploy.ts"), import("./context.ts")]);
      const rows = await deployments();
      const target = await runtime.getRuntime().target();
      if (opts.json) return ctx.out(json({ target: target.kind, endpoints: rows }));
      if (rows.length === 0) return ctx.out(`no endpoints on ${target.kind}\n`);
      ctx.out(`${table([["NAME", "ENDPOINT", "STATUS", "WORKERS", "GPUS", "UPDATED"], ...rows.map((r) => [r.name, r.endpointId ?? "", r.status, r.workers ?? "", r.gpuIds ?? "", r.updatedAt ?? ""])])}\n`);
    });
};
