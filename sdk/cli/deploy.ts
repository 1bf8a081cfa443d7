/** `ferry deploy <file>`: imports a module and provisions every resource it declares. */
import type { CommandModule } from "./context.ts";

export const deployCommand: CommandModule = (program, ctx) => {
  program
    .command("deploy")
    .description("Import a module and provision every resource it declares (create, reuse, or update in place)")
    .argument("<file>", "a .js or .ts module that builds resources (new LiveServerless({...}), ...); .ts needs tsx installed")
    .option("--json", "print the results as JSON")
    .action(async (file: string, opts: { json?: boolean }) => {
      const runtime = await ctx.connect();
      const [{ importUserModule }, { declaredResources }, { deploy }, { FerryError }, { table, json }] = await Promise.all([
        import("./user-module.ts"),
        import("../resources.ts"),
        import("../deploy.ts"),
        import("../errors.ts"),
        import("./context.ts"),
      ]);
      const before = new Set(declaredResources());
      await importUserModule(file);
      const declared = declaredResources().filter((r) => !before.has(r));
      if (declared.length === 0) throw new FerryError(`${file} declares no resources (build them at module level: new LiveServerless({ name: ... }))`);
      const target = await runtime.getRuntime().target();
      const results = await deploy(declared);
      if (opts.json) return ctx.out(json({ target: target.kind, results }));
      ctx.out(`${table([["NAME", "ENDPOINT", "ACTION"], ...results.map((r) => [r.name, r.endpointId, r.action])])}\n`);
      ctx.out(`deployed ${results.length} resource${results.length === 1 ? "" : "s"} on ${target.kind}\n`);
    });
};
