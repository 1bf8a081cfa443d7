/**
 * `ferry setup`: makes the local default runnable where it can. It picks a Python with the
 * runner's modules (FERRY_PYTHON when set; else python3 on PATH, then /usr/bin/python3) and
 * records it in `./.ferry/python`, where workers started from this folder find it. When none
 * has them: as root on Debian/Ubuntu it installs the same packages `make setup` does; elsewhere
 * it prints what to run. Commands run without a shell.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { pythonRecordFile } from "../../protocol/python-choice.ts";
import { canMakeVenv, DEBIAN_PACKAGES, missingRequired, probePython } from "./python-probe.ts";

export interface SetupOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  out: (text: string) => void;
  /** Run apt-get when nothing else works (default: when root and apt-get exists). */
  allowApt?: boolean;
}

const DEBIAN_PYTHON = "/usr/bin/python3";

function which(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(":").filter(Boolean)) {
    const candidate = `${dir}/${command}`;
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function usable(python: string, env: NodeJS.ProcessEnv): boolean {
  const probed = probePython(python, env);
  return probed.ok && missingRequired(probed.probe).length === 0;
}

function record(python: string, cwd: string, env: NodeJS.ProcessEnv, out: (text: string) => void): void {
  const file = pythonRecordFile(cwd);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${python}\n`);
  const probed = probePython(python, env);
  const venv = probed.ok && canMakeVenv(probed.probe) ? "" : " (it cannot make venvs: calls with `dependencies` need python3-venv python3-pip)";
  out(`setup: the runner's Python is ${python}${probed.ok ? ` ${probed.probe.version}` : ""}, recorded in ${file}${venv}\n`);
}

/** Answers whether the local default's Python is set up when it returns. */
export function runSetup(options: SetupOptions): boolean {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const out = options.out;

  if (env.FERRY_PYTHON) {
    if (usable(env.FERRY_PYTHON, env)) {
      out(`setup: FERRY_PYTHON=${env.FERRY_PYTHON} has msgpack and cloudpickle; nothing to do\n`);
      return true;
    }
    out(`setup: FERRY_PYTHON=${env.FERRY_PYTHON} lacks msgpack or cloudpickle, and it wins over any recorded choice.\n  Unset it (unset FERRY_PYTHON) to let setup choose, or install them into it: ${env.FERRY_PYTHON} -m pip install msgpack cloudpickle numpy packaging\n`);
    return false;
  }

  const candidates = [...new Set([which("python3", env), DEBIAN_PYTHON].filter((p): p is string => p !== undefined))];
  for (const python of candidates) {
    if (usable(python, env)) {
      record(python, cwd, env, out);
      return true;
    }
  }

  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const apt = which("apt-get", env);
  if ((options.allowApt ?? isRoot) && apt) {
    out(`setup: no Python with msgpack and cloudpickle (tried ${candidates.join(", ")}); installing Debian's: ${DEBIAN_PACKAGES.join(" ")}\n`);
    const aptEnv = { ...env, DEBIAN_FRONTEND: "noninteractive" };
    const install = () => spawnSync(apt, ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", ...DEBIAN_PACKAGES], { env: aptEnv, stdio: "inherit" });
    if (install().status !== 0) {
      spawnSync(apt, ["update"], { env: aptEnv, stdio: "inherit" });
      install();
    }
    if (usable(DEBIAN_PYTHON, env)) {
      record(DEBIAN_PYTHON, cwd, env, out);
      return true;
    }
  }

  out(
    [
      `setup: no Python with msgpack and cloudpickle found (tried ${candidates.join(", ") || "none on PATH"}).`,
      `  Debian/Ubuntu:  sudo apt-get install ${DEBIAN_PACKAGES.join(" ")}   then run npx ferry setup again`,
      "  Any Python 3.9+: python3 -m pip install msgpack cloudpickle numpy packaging   then export FERRY_PYTHON=$(command -v python3)",
      "",
    ].join("\n"),
  );
  return false;
}
