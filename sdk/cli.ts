/**
 * The `ferry` command: serve the local endpoint server, deploy a module's resources, list,
 * undeploy and check endpoints, generate TypeScript types from Python annotations. The target (RunPod or local) follows the same rules as calls:
 * RUNPOD_API_KEY set -> RunPod, else local; `--target` or FERRY_TARGET forces one.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { deploy, deployments, endpointHealth, undeployResource } from "./deploy.ts";
import { FerryError } from "./errors.ts";
import { typesCommand } from "./python-types/types-command.ts";
import { declaredResources } from "./resources.ts";
import { configure, getRuntime, shutdown } from "./runtime.ts";

function targetOption(value: string): "local" | "runpod" {
  if (value !== "local" && value !== "runpod") throw new InvalidArgumentError('use "local" or "runpod"');
  return value;
}

function portOption(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError("a port is 0-65535");
  return port;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

interface GlobalOptions {
  target?: "local" | "runpod";
  stateDir?: string;
}

export function buildProgram(out: (text: string) => void = (t) => void process.stdout.write(t)): Command {
  const program = new Command();
  program
    .name("ferry")
    .description("Run Python functions and classes on serverless GPUs from TypeScript (RunPod Serverless, or a local RunPod-compatible server).")
    .option("--target <target>", "local or runpod (default: runpod when RUNPOD_API_KEY is set, else local; FERRY_TARGET overrides)", targetOption)
    .option("--state-dir <dir>", "where .ferry state lives (default ./.ferry, or FERRY_STATE_DIR)")
    .showHelpAfterError()
    .hook("preAction", async (_program, command) => {
      if (command.name() === "serve" || command.name() === "types") return;
      const g = program.opts<GlobalOptions>();
      await configure({ target: g.target, stateDir: g.stateDir, onLog: false, quiet: true });
    });

  program
    .command("serve")
    .description("Run the local endpoint server in the foreground (RunPod's endpoint API, worker protocol and GraphQL on this machine)")
    .option("-p, --port <port>", "port to listen on (default 8765; 0 picks a free one)", portOption)
    .option("--host <host>", "address to bind (default 127.0.0.1)")
    .option("--api-key <key>", "require this key on every request (default: none)")
    .action(async (opts: { port?: number; host?: string; apiKey?: string }) => {
      const { runServe } = await import("./local-server/serve-command.ts");
      const g = program.opts<GlobalOptions>();
      await runServe({ port: opts.port, host: opts.host, apiKey: opts.apiKey, stateDir: g.stateDir ?? process.env.FERRY_STATE_DIR });
    });

  program
    .command("deploy")
    .description("Import a module and provision every resource it declares (create, reuse, or update in place)")
    .argument("<file>", "a .ts or .js module that builds resources (new LiveServerless({...}), ...)")
    .action(async (file: string) => {
      const before = new Set(declaredResources());
      await import(pathToFileURL(resolve(file)).href);
      const declared = declaredResources().filter((r) => !before.has(r));
      if (declared.length === 0) throw new FerryError(`${file} declares no resources (build them at module level: new LiveServerless({ name: ... }))`);
      const target = await getRuntime().target();
      const results = await deploy(declared);
      out(`${table([["NAME", "ENDPOINT", "ACTION"], ...results.map((r) => [r.name, r.endpointId, r.action])])}\n`);
      out(`deployed ${results.length} resource${results.length === 1 ? "" : "s"} on ${target.kind}\n`);
    });

  program
    .command("ls")
    .description("List deployed endpoints: the state file joined with the remote list")
    .action(async () => {
      const rows = await deployments();
      const target = await getRuntime().target();
      if (rows.length === 0) {
        out(`no endpoints on ${target.kind}\n`);
        return;
      }
      out(`${table([["NAME", "ENDPOINT", "STATUS", "WORKERS", "GPUS", "UPDATED"], ...rows.map((r) => [r.name, r.endpointId ?? "", r.status, r.workers ?? "", r.gpuIds ?? "", r.updatedAt ?? ""])])}\n`);
    });

  program
    .command("undeploy")
    .description("Delete a deployed endpoint and its state entry")
    .argument("[name]", "resource name")
    .option("--all", "every endpoint in the state file")
    .action(async (name: string | undefined, opts: { all?: boolean }) => {
      if (!name && !opts.all) throw new FerryError("name a resource, or pass --all");
      if (name && opts.all) throw new FerryError("give a name or --all, not both");
      const names = opts.all ? (await deployments()).filter((r) => r.status !== "untracked").map((r) => r.name) : [name!];
      for (const n of names) {
        const result = await undeployResource(n);
        out(result.deleted ? `undeployed ${n}${result.endpointId ? ` (${result.endpointId})` : ""}\n` : `${n}: nothing deployed under that name\n`);
      }
      if (opts.all && names.length === 0) out("nothing to undeploy\n");
    });

  program
    .command("health")
    .description("Show an endpoint's jobs and workers (/health)")
    .argument("<name>", "resource name")
    .action(async (name: string) => {
      const { endpointId, health } = await endpointHealth(name);
      out(`${name} (${endpointId})\n`);
      out(`  jobs     ${Object.entries(health.jobs).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
      out(`  workers  ${Object.entries(health.workers).map(([k, v]) => `${k} ${v}`).join(", ")}\n`);
    });

  program.addCommand(typesCommand(out));

  return program;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof FerryError) process.stderr.write(`ferry: ${error.message}\n`);
    else process.stderr.write(`ferry: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  } finally {
    await shutdown();
  }
}
