#!/usr/bin/env node
// The ferry CLI is TypeScript (sdk/cli.ts). tsx's loader lets Node run it, and the user's
// modules that `ferry deploy` imports, without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../sdk/cli.ts");
process.exitCode = await main(process.argv);
