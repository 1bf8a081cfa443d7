#!/usr/bin/env node
/** The `ferry` executable (package.json `bin` points at its build, `dist/sdk/cli/main.js`). */
import { main } from "./program.ts";

process.exitCode = await main(process.argv);
