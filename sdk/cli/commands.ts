/** Every `ferry` subcommand, in the order `ferry --help` lists them. A new command is one module added here. */
import type { CommandModule } from "./context.ts";
import { deployCommand } from "./deploy.ts";
import { doctorCommand } from "./doctor.ts";
import { healthCommand } from "./health.ts";
import { lsCommand } from "./ls.ts";
import { serveCommand } from "./serve.ts";
import { setupCommand } from "./setup.ts";
import { typesCommand } from "./types.ts";
import { undeployCommand } from "./undeploy.ts";

export const COMMANDS: readonly CommandModule[] = [
  serveCommand,
  deployCommand,
  lsCommand,
  undeployCommand,
  healthCommand,
  typesCommand,
  doctorCommand,
  setupCommand,
];
