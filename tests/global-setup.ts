// Builds dist/ once before the suites that run the bundled worker (esbuild takes well under a second).
import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync(process.execPath, ["images/build.mjs", "--quiet"], { stdio: "inherit" });
}
