/**
 * What an interpreter offers the runner: its version and path, the runner's modules (msgpack
 * and cloudpickle needed, numpy for arrays, packaging for requirement checks) and whether it
 * can make the venv dependencies go into (venv + ensurepip, or pip). Run without a shell.
 */
import { spawnSync } from "node:child_process";
import { z } from "zod";

/** The Debian packages that give /usr/bin/python3 all of it (what `make setup` installs). */
export const DEBIAN_PACKAGES = ["python3-msgpack", "python3-cloudpickle", "python3-numpy", "python3-venv", "python3-pip", "python3-packaging"] as const;
export const REQUIRED_MODULES = ["msgpack", "cloudpickle"] as const;
export const RECOMMENDED_MODULES = ["numpy", "packaging"] as const;

const PROBE = `
import importlib.util, json, sys
mods = ${JSON.stringify([...REQUIRED_MODULES, ...RECOMMENDED_MODULES, "venv", "ensurepip", "pip"])}
print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
                  "modules": {m: importlib.util.find_spec(m) is not None for m in mods}}))
`;

const ProbeSchema = z.object({ executable: z.string(), version: z.string(), modules: z.record(z.string(), z.boolean()) });
export type PythonProbe = z.infer<typeof ProbeSchema>;

export type ProbeResult = { ok: true; probe: PythonProbe } | { ok: false; error: string };

export function probePython(python: string, env: NodeJS.ProcessEnv = process.env): ProbeResult {
  const run = spawnSync(python, ["-c", PROBE], { encoding: "utf8", env, timeout: 20_000 });
  if (run.error) return { ok: false, error: (run.error as NodeJS.ErrnoException).code === "ENOENT" ? `${python} does not exist` : run.error.message };
  if (run.status !== 0) return { ok: false, error: `${python} exited with code ${run.status}: ${run.stderr.trim().split("\n").pop() ?? ""}` };
  try {
    return { ok: true, probe: ProbeSchema.parse(JSON.parse(run.stdout)) };
  } catch {
    return { ok: false, error: `${python} answered something other than the probe's JSON` };
  }
}

/** The runner's needed modules the interpreter lacks. */
export function missingRequired(probe: PythonProbe): string[] {
  return REQUIRED_MODULES.filter((m) => !probe.modules[m]);
}

/** Whether the interpreter can make a venv for dependencies (venv + ensurepip, or pip to run inside one). */
export function canMakeVenv(probe: PythonProbe): boolean {
  return Boolean(probe.modules["venv"] && (probe.modules["ensurepip"] || probe.modules["pip"]));
}
