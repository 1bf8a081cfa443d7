/**
 * The package's version, read from package.json at load time so the user agent and the default
 * worker image tags always name the release that is running. `sdk/` runs from source (tsx), so
 * the file sits one folder up.
 */
import { createRequire } from "node:module";

export const VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
