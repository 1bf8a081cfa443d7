#!/usr/bin/env node
// The checkout's launcher: runs the CLI from its TypeScript sources through tsx, so a change
// needs no build. Installed packages run the built `dist/sdk/cli/main.js` (package.json `bin`).
import { register } from "tsx/esm/api";

register();
// user-module.ts reads this mark: the loader that runs a user's .ts module is in place.
globalThis[Symbol.for("ferry.tsLoader")] = true;
const { main } = await import("../sdk/cli/program.ts");
process.exitCode = await main(process.argv);
