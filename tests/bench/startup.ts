/**
 * Figure group: start-up of the built package. `import` of the package entry
 * (`dist/sdk/index.js`) in a fresh Node process, and `ferry --help` (`dist/sdk/cli/main.js`),
 * each beside `node -e 0` measured in the same run, alternating run by run.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { BenchGroup } from "./lib/figures.ts";
import { REPO_ROOT } from "./lib/engine-jobs.ts";
import { fmt, samplePair, summarize } from "./lib/stats.ts";

const ENTRY = join(REPO_ROOT, "dist", "sdk", "index.js");
const CLI = join(REPO_ROOT, "dist", "sdk", "cli", "main.js");
const CLI_GOAL_MS = 150;

function runNode(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`node ${args.join(" ")} exited with ${code}`))));
  });
}

export const startupGroup: BenchGroup = {
  key: "startup",
  title: "Start-up of the built package: import of the entry, CLI --help",
  budgetMs: 60_000,
  figures: [
    { id: "startup.import", name: "`import` of the package entry in a fresh Node process", goal: null },
    { id: "startup.cli-help", name: "`ferry --help` (built CLI)", goal: `< ${CLI_GOAL_MS} ms` },
  ],
  async run(ctx) {
    if (!existsSync(ENTRY) || !existsSync(CLI)) {
      for (const id of ["startup.import", "startup.cli-help"]) ctx.skip(id, "dist/sdk/ is missing (run `make build`)");
      return;
    }
    const options = { warmup: 1, iterations: ctx.quick ? 3 : 15, budgetMs: ctx.quick ? 3_000 : 20_000 };
    const bare = () => runNode(["-e", "0"]);

    const imported = await samplePair(() => runNode(["--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(ENTRY).href)})`]), bare, options);
    const importStats = summarize(imported.a);
    const bareForImport = summarize(imported.b);
    ctx.report("startup.import", {
      value: importStats.p50,
      unit: "ms",
      stats: importStats,
      floor: { name: "`node -e 0`", value: bareForImport.p50, unit: "ms", stats: bareForImport },
      note: `p50 of ${importStats.n} fresh processes; the import alone costs ${fmt(importStats.p50 - bareForImport.p50)} ms over bare Node.`,
    });

    const help = await samplePair(() => runNode([CLI, "--help"]), bare, options);
    const helpStats = summarize(help.a);
    const bareForHelp = summarize(help.b);
    ctx.report("startup.cli-help", {
      value: helpStats.p50,
      unit: "ms",
      stats: helpStats,
      floor: { name: "`node -e 0`", value: bareForHelp.p50, unit: "ms", stats: bareForHelp },
      met: helpStats.p50 < CLI_GOAL_MS,
      limit: `Node's own start (${fmt(bareForHelp.p50)} ms) plus commander and the command modules; subcommands load their code only when they run.`,
      note: `p50 of ${helpStats.n} fresh processes.`,
    });
  },
};
