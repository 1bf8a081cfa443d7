/**
 * Which Python the worker installs packages into (and the child then runs).
 *
 * - `FERRY_VENV` set: always that venv, created with `--system-site-packages` when missing,
 *   so the runner's own modules (msgpack, cloudpickle, packaging) stay importable.
 * - In a container: the image's Python; when it is externally managed (PEP 668), installs
 *   pass `--break-system-packages`, which is right for a throwaway image.
 * - Elsewhere (a developer's machine): a venv under `.ferry/venv`, never the user's own
 *   Python, which Ferry must not change behind their back.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import { runLoggedSubprocess, tailLines } from "../subprocess.ts";
import { DependencyInstallError } from "./errors.ts";

export type PythonTargetKind = "ferry-venv-env" | "container" | "local-venv";

export interface PythonTarget {
  /** The interpreter to run the child with and install into. */
  python: string;
  kind: PythonTargetKind;
  venvDir?: string;
  /** PEP 668: pip refuses to install here without `--break-system-packages`. */
  externallyManaged: boolean;
}

export interface ResolvePythonTargetOptions {
  /** The interpreter Ferry was set up with (`.ferry/python`, FERRY_PYTHON, ...). */
  basePython: string;
  logger: Logger;
  /** Default: process.env (FERRY_VENV is read from it). */
  env?: NodeJS.ProcessEnv;
  /** Where `.ferry/venv` goes when neither FERRY_VENV nor a container applies. Default: process.cwd(). */
  cwd?: string;
  /** Overrides container detection. */
  inContainer?: boolean;
  /** Bound on venv creation. Default 180 s. */
  timeoutMs?: number;
}

const InterpreterInfoSchema = z.object({
  executable: z.string(),
  version: z.string(),
  stdlib: z.string(),
  in_venv: z.boolean(),
  externally_managed: z.boolean(),
});
export type InterpreterInfo = z.infer<typeof InterpreterInfoSchema>;

const PROBE_PY = `
import json, os, sys, sysconfig
stdlib = sysconfig.get_path("stdlib")
in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
print(json.dumps({
    "executable": sys.executable,
    "version": "%d.%d.%d" % sys.version_info[:3],
    "stdlib": stdlib,
    "in_venv": in_venv,
    "externally_managed": (not in_venv) and os.path.isfile(os.path.join(stdlib, "EXTERNALLY-MANAGED")),
}))
`;

const probes = new Map<string, Promise<InterpreterInfo>>();

/** Facts about an interpreter (cached per path): version, venv or not, externally managed. */
export function probeInterpreter(python: string, options: { logger: Logger; env?: NodeJS.ProcessEnv }): Promise<InterpreterInfo> {
  let probe = probes.get(python);
  if (!probe) {
    probe = (async () => {
      const result = await runLoggedSubprocess(python, ["-c", PROBE_PY], {
        operation: "python-probe",
        timeoutMs: 30_000,
        logger: options.logger,
        ...(options.env ? { env: options.env } : {}),
      });
      if (!result.ok) {
        throw new DependencyInstallError(`Could not run the Python interpreter ${python}: ${result.spawnError ?? `exit ${result.exitCode}`}`, {
          tool: "python",
          exitCode: result.exitCode,
          outputTail: tailLines(result.stderr, 20),
        });
      }
      return InterpreterInfoSchema.parse(JSON.parse(result.stdout));
    })();
    probes.set(python, probe);
    probe.catch(() => probes.delete(python));
  }
  return probe;
}

const CONTAINER_CGROUP = /docker|kubepods|containerd|libpod|podman|lxc|buildkit/;

/** `/.dockerenv`, podman's `/run/.containerenv`, or container runtimes named in `/proc/1/cgroup`. */
export function detectContainer(): boolean {
  if (process.platform !== "linux") return false;
  if (existsSync("/.dockerenv") || existsSync("/run/.containerenv")) return true;
  try {
    return CONTAINER_CGROUP.test(readFileSync("/proc/1/cgroup", "utf8"));
  } catch {
    return false;
  }
}

export function venvPython(venvDir: string): string {
  return process.platform === "win32" ? path.join(venvDir, "Scripts", "python.exe") : path.join(venvDir, "bin", "python");
}

const creating = new Map<string, Promise<void>>();

/** Written into each venv Ferry makes: the interpreter it was made from. */
const BASE_MARKER = "ferry-base.json";
const BaseMarkerSchema = z.object({ executable: z.string(), version: z.string() });
type BaseMarker = z.infer<typeof BaseMarkerSchema>;

function readBaseMarker(venvDir: string): BaseMarker | undefined {
  try {
    const parsed = BaseMarkerSchema.safeParse(JSON.parse(readFileSync(path.join(venvDir, BASE_MARKER), "utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function madeFrom(venvDir: string, base: BaseMarker): boolean {
  const marker = readBaseMarker(venvDir);
  return isFile(venvPython(venvDir)) && marker?.executable === base.executable && marker.version === base.version;
}

/**
 * Makes `venvDir` a venv of `basePython` (with `--system-site-packages`). A venv is keyed by the
 * interpreter it was made from (path and version, in `ferry-base.json`): one made from another
 * interpreter, or by an older Ferry, is replaced, so a corrected FERRY_PYTHON takes effect on
 * the next worker start with nothing deleted by hand.
 */
async function ensureVenv(venvDir: string, options: ResolvePythonTargetOptions): Promise<void> {
  const info = await probeInterpreter(options.basePython, { logger: options.logger, ...(options.env ? { env: options.env } : {}) }).catch((err: unknown) => {
    const cause = err instanceof DependencyInstallError ? err : undefined;
    throw new DependencyInstallError(`Could not create the venv ${venvDir}: ${err instanceof Error ? err.message : String(err)}`, {
      tool: "venv",
      command: [options.basePython],
      exitCode: cause?.exitCode ?? null,
      outputTail: cause?.outputTail ?? "",
    });
  });
  const base: BaseMarker = { executable: info.executable, version: info.version };
  if (madeFrom(venvDir, base)) return;
  let pending = creating.get(venvDir);
  if (!pending) {
    pending = createVenv(venvDir, base, options).finally(() => creating.delete(venvDir));
    creating.set(venvDir, pending);
  }
  return pending;
}

async function createVenv(venvDir: string, base: BaseMarker, options: ResolvePythonTargetOptions): Promise<void> {
  options.logger.info({ venvDir, basePython: options.basePython }, "creating the Python venv for dependencies (--system-site-packages)");
  // A venv with --system-site-packages already sees the base interpreter's pip, which installs
  // into the venv when run by it; copying pip in (ensurepip) is what makes creation take seconds.
  const basePip = await runLoggedSubprocess(options.basePython, ["-c", "import pip"], { operation: "venv-pip-probe", timeoutMs: 30_000, logger: options.logger });
  // Several workers of one endpoint may start together and share this venv: each builds its own
  // beside it and renames it into place, so nobody ever sees a half-made venv.
  const building = `${venvDir}.building-${process.pid}-${randomBytes(4).toString("hex")}`;
  const args = ["-m", "venv", "--system-site-packages", ...(basePip.ok ? ["--without-pip"] : []), building];
  const result = await runLoggedSubprocess(options.basePython, args, {
    operation: "venv-create",
    timeoutMs: options.timeoutMs ?? 180_000,
    logger: options.logger,
    ...(options.env ? { env: options.env } : {}),
  });
  if (result.ok && isFile(venvPython(building))) {
    writeFileSync(path.join(building, BASE_MARKER), `${JSON.stringify(base)}\n`);
    // A venv of another interpreter steps aside first (another worker may have replaced it already).
    if (existsSync(venvDir) && !madeFrom(venvDir, base)) {
      const stale = `${venvDir}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
      try {
        renameSync(venvDir, stale);
        options.logger.warn({ venvDir, previous: readBaseMarker(stale) ?? "unknown", basePython: options.basePython }, "replacing a venv made from another Python");
        rmSync(stale, { recursive: true, force: true });
      } catch {
        // Gone already: another worker moved it.
      }
    }
    try {
      renameSync(building, venvDir);
    } catch {
      // Another worker's venv got there first; it is as good as ours.
      rmSync(building, { recursive: true, force: true });
    }
  } else {
    rmSync(building, { recursive: true, force: true });
  }
  if (!result.ok || !madeFrom(venvDir, base)) {
    const output = `${result.stdout}\n${result.stderr}`.trim();
    const hint = /ensurepip|python3-venv/.test(output) ? " (on Debian/Ubuntu: apt-get install python3-venv)" : "";
    throw new DependencyInstallError(
      `Could not create the venv ${venvDir} with ${options.basePython}: ${result.spawnError ?? (result.timedOut ? "timed out" : `exit ${result.exitCode}`)}${hint}`,
      { tool: "venv", command: [options.basePython, ...args], exitCode: result.exitCode, outputTail: tailLines(output, 20) },
    );
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export async function resolvePythonTarget(options: ResolvePythonTargetOptions): Promise<PythonTarget> {
  const env = options.env ?? process.env;
  const ferryVenv = env.FERRY_VENV?.trim();
  if (ferryVenv) {
    const venvDir = path.resolve(options.cwd ?? process.cwd(), ferryVenv);
    await ensureVenv(venvDir, options);
    return { python: venvPython(venvDir), kind: "ferry-venv-env", venvDir, externallyManaged: false };
  }
  if (options.inContainer ?? detectContainer()) {
    const info = await probeInterpreter(options.basePython, { logger: options.logger, ...(options.env ? { env: options.env } : {}) });
    return { python: options.basePython, kind: "container", externallyManaged: info.externally_managed };
  }
  const venvDir = path.resolve(options.cwd ?? process.cwd(), ".ferry", "venv");
  await ensureVenv(venvDir, options);
  return { python: venvPython(venvDir), kind: "local-venv", venvDir, externallyManaged: false };
}
