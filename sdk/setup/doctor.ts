/**
 * `ferry doctor`: what the local default needs and what is missing, each miss with the exact
 * command that fixes it. Needed: Node >= 20, the worker bundle, a Python with msgpack and
 * cloudpickle. Recommended: numpy, venv or pip support (for `dependencies`), free disk, and the
 * RunPod key's source (none means calls run locally).
 */
import { existsSync, statfsSync } from "node:fs";
import { choosePython, type PythonChoice } from "../../protocol/python-choice.ts";
import { findRunpodApiKey, runpodConfigFile } from "../credentials.ts";
import { PACKAGE_ROOT, WORKER_BUNDLE } from "../package-root.ts";
import { canMakeVenv, DEBIAN_PACKAGES, missingRequired, probePython, RECOMMENDED_MODULES } from "./python-probe.ts";

export type CheckStatus = "ok" | "missing" | "warn" | "info";

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** The command (or change) that fixes a miss. */
  fix?: string;
}

export interface DoctorReport {
  /** Every needed part is present: the local default can run calls. */
  ok: boolean;
  checks: Check[];
}

const MIN_FREE_BYTES = 2 * 1024 ** 3;
const PYTHON_FIX = `npx ferry setup   (or: apt-get install ${DEBIAN_PACKAGES.join(" ")}; or: python3 -m pip install msgpack cloudpickle numpy packaging, then export FERRY_PYTHON=<that python>)`;

/** FERRY_PYTHON wins over what setup records, so its fix is to change or unset it. */
function pythonFix(choice: PythonChoice): string {
  if (choice.source === "FERRY_PYTHON") return `${choice.python} -m pip install msgpack cloudpickle numpy packaging   (or unset FERRY_PYTHON and run npx ferry setup)`;
  return PYTHON_FIX;
}

function why(choice: PythonChoice): string {
  if (choice.source === "FERRY_PYTHON") return "from FERRY_PYTHON";
  if (choice.source === "recorded") return `recorded in ${choice.recordFile}`;
  return "python3 on PATH: no FERRY_PYTHON, nothing recorded";
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

export function runDoctor(options: { env?: NodeJS.ProcessEnv; cwd?: string; stateDir?: string } = {}): DoctorReport {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const checks: Check[] = [];

  const major = Number(process.versions.node.split(".")[0]);
  checks.push(
    major >= 20
      ? { name: "node", status: "ok", detail: `Node ${process.versions.node} (${process.execPath})` }
      : { name: "node", status: "missing", detail: `Node ${process.versions.node}; Ferry needs 20 or newer`, fix: "install Node 20 or newer (https://nodejs.org, or nvm install 20)" },
  );

  checks.push(
    existsSync(WORKER_BUNDLE)
      ? { name: "worker", status: "ok", detail: WORKER_BUNDLE }
      : { name: "worker", status: "missing", detail: `${WORKER_BUNDLE} is missing`, fix: existsSync(`${PACKAGE_ROOT}/sdk/index.ts`) ? `npm run build   (in ${PACKAGE_ROOT})` : "npm install ferry   (reinstall the package)" },
  );

  const choice = choosePython({ env, cwd, packageRoot: PACKAGE_ROOT });
  const probed = probePython(choice.python, env);
  if (!probed.ok) {
    checks.push({ name: "python", status: "missing", detail: `${choice.python} (${why(choice)}): ${probed.error}`, fix: pythonFix(choice) });
  } else {
    const { probe } = probed;
    checks.push({ name: "python", status: "ok", detail: `${probe.executable} ${probe.version} (${why(choice)})` });
    const missing = missingRequired(probe);
    checks.push(
      missing.length === 0
        ? { name: "runner modules", status: "ok", detail: "msgpack, cloudpickle" }
        : { name: "runner modules", status: "missing", detail: `${probe.executable} has no ${missing.join(", ")}`, fix: pythonFix(choice) },
    );
    const absent = RECOMMENDED_MODULES.filter((m) => !probe.modules[m]);
    checks.push(
      absent.length === 0
        ? { name: "numpy, packaging", status: "ok", detail: "typed arrays and requirement checks work" }
        : { name: "numpy, packaging", status: "warn", detail: `no ${absent.join(", ")}: ${absent.includes("numpy") ? "typed arrays and ndarray() need numpy" : "requirement checks need packaging"}`, fix: pythonFix(choice) },
    );
    checks.push(
      canMakeVenv(probe)
        ? { name: "venv", status: "ok", detail: `dependencies install into a venv per endpoint (${probe.modules["pip"] ? "pip" : "ensurepip"})` }
        : { name: "venv", status: "warn", detail: "no venv + pip support: calls with `dependencies` cannot install them", fix: "apt-get install python3-venv python3-pip   (Debian/Ubuntu)" },
    );
  }

  const diskDir = options.stateDir ?? cwd;
  try {
    const fs = statfsSync(existsSync(diskDir) ? diskDir : cwd);
    const free = fs.bavail * fs.bsize;
    checks.push(
      free >= MIN_FREE_BYTES
        ? { name: "disk", status: "ok", detail: `${gib(free)} free for venvs and model caches` }
        : { name: "disk", status: "warn", detail: `${gib(free)} free; pip packages and models need a few GiB`, fix: "free some space, or point FERRY_STATE_DIR at a larger disk" },
    );
  } catch (err) {
    checks.push({ name: "disk", status: "warn", detail: `cannot read free space: ${err instanceof Error ? err.message : String(err)}` });
  }

  const key = findRunpodApiKey(env);
  checks.push(
    key
      ? { name: "runpod key", status: "info", detail: `from ${key.source}: calls run on RunPod Serverless (FERRY_TARGET=local keeps them here)` }
      : { name: "runpod key", status: "info", detail: `none (no RUNPOD_API_KEY, no ${runpodConfigFile(env) ?? "~/.runpod/config.toml"}): calls run on the local default`, fix: "export RUNPOD_API_KEY=...   (or `runpod config`) to run on RunPod Serverless" },
  );

  return { ok: checks.every((c) => c.status !== "missing"), checks };
}

const MARK: Record<CheckStatus, string> = { ok: "ok  ", missing: "MISS", warn: "warn", info: "info" };

/** The report as one screen of text. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.flatMap((c) => [
    `${MARK[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.fix && c.status !== "ok" ? [`      ${" ".repeat(width)}  fix: ${c.fix}`] : []),
  ]);
  lines.push("", report.ok ? "The local default has what it needs." : "Something the local default needs is missing: run the fix shown, or `npx ferry setup`.");
  return `${lines.join("\n")}\n`;
}
