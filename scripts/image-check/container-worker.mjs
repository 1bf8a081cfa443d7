#!/usr/bin/env node
// The local server's worker command for the image check: runs the image's entrypoint and
// command inside a working container of the built image (buildah run, chroot isolation, the
// host's network), passing in the variables RunPod would inject and the template's pip/uv
// settings. FERRY_VENV is not passed: on RunPod nothing sets it, and a job's packages go into
// the image's Python.
//
//   container-worker.mjs <buildah global args...> -- <container> <container root> <entrypoint and command...>
import { spawn } from "node:child_process";
import { signalContainer } from "./container-processes.mjs";

const split = process.argv.indexOf("--");
if (split < 0 || process.argv.length < split + 4) {
  console.error("usage: container-worker.mjs <buildah global args...> -- <container> <container root> <command...>");
  process.exit(2);
}
const globalArgs = process.argv.slice(2, split);
const [container, root, ...command] = process.argv.slice(split + 1);
const PASSED = /^(RUNPOD_|PIP_|UV_)/;
const envArgs = Object.entries(process.env)
  .filter(([name, value]) => PASSED.test(name) && value !== undefined)
  .flatMap(([name, value]) => ["--env", `${name}=${value}`]);

const child = spawn("buildah", [...globalArgs, "run", "--isolation", "chroot", ...envArgs, container, "--", ...command], { stdio: "inherit" });
// The worker finishes its jobs on SIGTERM: the local server's stop signals go to the image's
// PID 1 (tini, which passes them to the worker), as a container runtime would send them.
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => signalContainer(root, signal, { topOnly: true }));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
