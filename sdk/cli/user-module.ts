/**
 * Imports the module a user names on the command line. Plain Node runs `.js`/`.mjs`; a `.ts`
 * module needs a TypeScript loader, and tsx (an optional peer dependency) is the one Ferry
 * registers when it is installed. The checkout's `bin/ferry.mjs` has registered it already and
 * says so through the same global marker.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { FerryError } from "../errors.ts";

const TYPESCRIPT = /\.(c|m)?tsx?$/;
const LOADER_MARK = Symbol.for("ferry.tsLoader");

export async function importUserModule(file: string): Promise<unknown> {
  const holder = globalThis as { [LOADER_MARK]?: boolean };
  if (TYPESCRIPT.test(file) && !holder[LOADER_MARK]) {
    let tsx: { register: () => unknown };
    try {
      tsx = (await import("tsx/esm/api")) as { register: () => unknown };
    } catch {
      throw new FerryError(`${file} is TypeScript: install a loader for it (npm install --save-dev tsx), or compile it and deploy the .js file`);
    }
    tsx.register();
    holder[LOADER_MARK] = true;
  }
  return import(pathToFileURL(resolve(file)).href);
}
