/** `ferry serve`: the local endpoint server in the foreground. */
import { InvalidArgumentError } from "commander";
import type { CommandModule } from "./context.ts";

function portOption(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError("a port is 0-65535");
  return port;
}

export const serveCommand: CommandModule = (program, ctx) => {
  program
    .command("serve")
    .description("Run the local endpoint server in the foreground (RunPod's endpoint API, worker protocol and GraphQL on this machine)")
    .option("-p, --port <port>", "port to listen on (default 8765; 0 picks a free one)", portOption)
    .option("--host <host>", "address to bind (default 127.0.0.1)")
    .option("--api-key <key>", "require this key on every request (default: none)")
    .action(async (opts: { port?: number; host?: string; apiKey?: string }) => {
      const { runServe } = await import("../local-server/serve-command.ts");
      await runServe({ port: opts.port, host: opts.host, apiKey: opts.apiKey, stateDir: ctx.global().stateDir ?? process.env.FERRY_STATE_DIR });
    });
};
