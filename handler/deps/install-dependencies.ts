/**
 * The dependency step of a call: validate both lists (synchronously, before anything runs),
 * find what is missing, install only that, and report what was present, what was installed
 * and where the time went.
 *
 * A set found satisfied is remembered (keyed by each entry's spelling-insensitive key), so a warm worker that
 * sees the same list again answers without asking Python. Any install clears that memory:
 * pip or apt may have changed what other sets relied on.
 */
import type { Logger } from "../../protocol/logger.ts";
import { redactSecrets } from "../../protocol/redaction.ts";
import type { LogLine } from "../../protocol/wire.ts";
import {
  assertAptUsable,
  assertRoot,
  installAptPackages,
  missingPackages,
  queryInstalledDebs,
  type AptOptions,
  type AptSystem,
  type AptTimeouts,
} from "./apt-installer.ts";
import { DependencyInstallError } from "./errors.ts";
import { condenseInstallerLine } from "./installer-output.ts";
import { installPythonPackages, type PythonInstallResult } from "./pip-installer.ts";
import { probeInterpreter, type PythonTarget } from "./python-target.ts";
import { emptyPython, emptySystem, summarizeReport, type DependencyReport, type InstalledPackage, type PythonDependencyReport, type SystemDependencyReport } from "./dependency-report.ts";
import { checkGuardedRequirements, type RequirementCheck, type RequirementChecker } from "./requirement-checker.ts";
import {
  parseAptPackage,
  parseDependencyRequest,
  type DependencyRequestInput,
  type ParsedAptPackage,
  type ParsedRequirement,
} from "./requirement-spec.ts";


export interface InstallDependenciesOptions {
  /** The running Python child (or any RequirementChecker for the same interpreter). */
  engine: RequirementChecker;
  logger: Logger;
  signal?: AbortSignal;
  /** Live progress for the caller's stream: Ferry's own lines and the installers' output, condensed. */
  onLog?: (line: LogLine) => void;
  /** Each package set as it is installed: its condensed output lines, then `done`. */
  onProgress?: (event: InstallProgress) => void;
  /** Default process.env: index URLs, caches, PATH (uv, nala). */
  env?: NodeJS.ProcessEnv;
  /** From resolvePythonTarget; without it the interpreter is probed when an install is needed. */
  target?: Pick<PythonTarget, "externallyManaged">;
  /** Default /runpod-volume. */
  runpodVolume?: string;
  /** Overrides of what the apt step sees (platform, uid, lists directory). */
  system?: Partial<AptSystem>;
  aptTimeouts?: Partial<AptTimeouts>;
  pipTimeoutMs?: number;
}

export interface InstallProgress {
  tool: "pip" | "apt";
  packages: string[];
  line?: string;
  done?: boolean;
}

/** Normalized-set key -> what satisfied it. */
const satisfiedSets = new Map<string, InstalledPackage[]>();

/** Forgets every set found satisfied (done on any install). */
export function clearDependencyMemo(): void {
  satisfiedSets.clear();
}

/**
 * Installs into one target go one at a time: apt and dpkg hold one lock, and two pip runs
 * into the same site-packages can leave it half-written. Keys: "apt", "python:<interpreter>".
 */
const queues = new Map<string, Promise<unknown>>();
function serialized<T>(key: string, task: () => Promise<T>): Promise<T> {
  const next = (queues.get(key) ?? Promise.resolve()).then(task, task);
  const tail = next.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}
const serializeApt = <T>(task: () => Promise<T>) => serialized("apt", task);

/** Installs finished per interpreter, so a call that waited for another can tell its check is stale. */
const pythonInstallCount = new Map<string, number>();

const ms = (value: number) => Math.round(value * 100) / 100;

interface PartContext {
  options: InstallDependenciesOptions;
  accelerate: boolean;
  emit: (line: string) => void;
  /** A logger whose subprocess output lines, condensed, also reach the live log and the set's progress. */
  toolLogger: (tool: InstallProgress["tool"], packages: string[]) => Logger;
  /** Sets found (or made) satisfied in this call, recorded when the call ends. */
  verified: Map<string, InstalledPackage[]>;
  installedAnything: { value: boolean };
}

export async function installDependencies(request: DependencyRequestInput, options: InstallDependenciesOptions): Promise<DependencyReport> {
  const started = performance.now();
  const parsed = parseDependencyRequest(request);
  options.signal?.throwIfAborted();
  const { onLog } = options;
  const emit = (line: string) => onLog?.({ stream: "worker", line: redactSecrets(`[deps] ${line}`) });
  const ctx: PartContext = {
    options,
    accelerate: parsed.accelerateDownloads,
    emit,
    toolLogger: (tool, packages) =>
      onLog || options.onProgress
        ? tapSubprocessOutput(options.logger, (raw) => {
            const line = condenseInstallerLine(raw);
            if (line === undefined) return;
            const clean = redactSecrets(line);
            onLog?.({ stream: "worker", line: clean });
            options.onProgress?.({ tool, packages, line: clean });
          })
        : options.logger,
    verified: new Map(),
    installedAnything: { value: false },
  };

  const parallel = parsed.accelerateDownloads && parsed.python.length > 0 && parsed.system.length > 0;
  let python: PythonDependencyReport;
  let system: SystemDependencyReport;
  try {
    if (parallel) {
      const [sys, py] = await Promise.allSettled([systemPart(parsed.system, ctx), pythonPart(parsed.python, ctx)]);
      if (sys.status === "rejected") throw sys.reason;
      if (py.status === "rejected") throw py.reason;
      system = sys.value;
      python = py.value;
    } else {
      // System libraries first: a Python package may need them to build.
      system = await systemPart(parsed.system, ctx);
      python = await pythonPart(parsed.python, ctx);
    }
  } finally {
    if (ctx.installedAnything.value) clearDependencyMemo();
  }
  for (const [key, value] of ctx.verified) satisfiedSets.set(key, value);

  const report: DependencyReport = { python, system, parallel, total_ms: ms(performance.now() - started) };
  options.logger.debug({ dependencies: summarizeReport(report) }, "dependencies ready");
  return report;
}


async function pythonPart(requirements: ParsedRequirement[], ctx: PartContext): Promise<PythonDependencyReport> {
  const { engine, logger, signal } = ctx.options;
  const started = performance.now();
  const report = emptyPython(engine.python);
  if (requirements.length === 0) return report;
  report.requested = requirements.map((r) => r.raw);
  const key = `python\u0000${engine.python}\u0000${requirements.map((r) => r.key).sort().join("\n")}`;

  if (answerFromMemo(key, report, started)) return report;

  const installsBefore = pythonInstallCount.get(engine.python) ?? 0;
  const checks = await checkGuardedRequirements(engine, requirements);
  report.check_ms = ms(performance.now() - started);
  report.requested = checks.map((c) => c.requirement);
  const applies = checks.filter((c) => c.marker_applies);
  report.not_applicable = checks.filter((c) => !c.marker_applies).map((c) => c.requirement);
  const missing = applies.filter((c) => !c.satisfied);
  const present = (list: RequirementCheck[]) =>
    list.map((c) => ({ name: c.name, version: c.installed_version, requirement: c.requirement }));

  if (missing.length === 0) {
    report.already_present = present(applies);
    ctx.verified.set(key, report.already_present);
    report.total_ms = ms(performance.now() - started);
    return report;
  }

  return serialized(`python:${engine.python}`, async () => {
    if ((pythonInstallCount.get(engine.python) ?? 0) !== installsBefore) {
      // Another call installed into this interpreter while this one waited: look again.
      await engine.invalidateImportCaches();
      const fresh = await checkGuardedRequirements(engine, requirements);
      if (fresh.every((c) => !c.marker_applies || c.satisfied)) {
        report.already_present = present(fresh.filter((c) => c.marker_applies));
        ctx.verified.set(key, report.already_present);
        report.total_ms = ms(performance.now() - started);
        return report;
      }
      return installMissing(fresh.filter((c) => c.marker_applies && !c.satisfied), fresh.filter((c) => c.marker_applies));
    }
    return installMissing(missing, applies);
  });

  async function installMissing(missing: RequirementCheck[], applies: RequirementCheck[]): Promise<PythonDependencyReport> {
    const toInstall = missing.map((c) => c.requirement);
    const describe = (c: RequirementCheck) => (c.installed_version ? `${c.requirement} (have ${c.installed_version})` : c.requirement);
    ctx.emit(`Python: ${applies.length - missing.length} of ${applies.length} requirements present; installing ${missing.map(describe).join(", ")}`);
    ctx.options.onProgress?.({ tool: "pip", packages: toInstall });
    signal?.throwIfAborted();

    const externallyManaged =
      ctx.options.target?.externallyManaged ??
      (await probeInterpreter(engine.python, { logger, ...(ctx.options.env ? { env: ctx.options.env } : {}) })).externally_managed;
    const installStarted = performance.now();
    ctx.installedAnything.value = true;
    let result: PythonInstallResult;
    try {
      result = await installPythonPackages({
        python: engine.python,
        requirements: toInstall,
        accelerateDownloads: ctx.accelerate,
        externallyManaged,
        logger: ctx.toolLogger("pip", toInstall),
        ...(ctx.options.env ? { env: ctx.options.env } : {}),
        ...(signal ? { signal } : {}),
        ...(ctx.options.pipTimeoutMs !== undefined ? { timeoutMs: ctx.options.pipTimeoutMs } : {}),
        ...(ctx.options.runpodVolume !== undefined ? { runpodVolume: ctx.options.runpodVolume } : {}),
        onProgress: ctx.emit,
        installBuildTools: () => installBuildTools(ctx),
      });
    } finally {
      // Counted even on failure: a failed pip run may have changed site-packages.
      pythonInstallCount.set(engine.python, (pythonInstallCount.get(engine.python) ?? 0) + 1);
    }
    report.installer = result.installer;
    report.build_tools_installed = result.buildToolsInstalled;

    // The child imported before the install: make it look at site-packages again.
    await engine.invalidateImportCaches();
    const after = await checkGuardedRequirements(engine, requirements);
    report.install_ms = ms(performance.now() - installStarted);
    const unsatisfied = after.filter((c) => c.marker_applies && !c.satisfied);
    if (unsatisfied.length > 0) {
      throw new DependencyInstallError(
        `${result.installer} reported success, but ${engine.python} still does not satisfy: ${unsatisfied
          .map((c) => `${c.requirement} (installed: ${c.installed_version ?? "none"}${c.error ? `; ${c.error}` : ""})`)
          .join(", ")}`,
        { tool: result.installer, command: result.command },
      );
    }
    const installedSet = new Set(toInstall);
    const applying = after.filter((c) => c.marker_applies);
    report.installed = present(applying.filter((c) => installedSet.has(c.requirement)));
    report.already_present = present(applying.filter((c) => !installedSet.has(c.requirement)));
    ctx.verified.set(key, present(applying));
    ctx.emit(`Python: installed ${report.installed.map((p) => `${p.name} ${p.version}`).join(", ")} with ${result.installer} in ${Math.round(report.install_ms)} ms`);
    ctx.options.onProgress?.({ tool: "pip", packages: toInstall, done: true });
    report.total_ms = ms(performance.now() - started);
    return report;
  }
}

function aptOptions(ctx: PartContext, packages: string[]): AptOptions {
  const o = ctx.options;
  return {
    logger: ctx.toolLogger("apt", packages),
    onProgress: ctx.emit,
    ...(o.env ? { env: o.env } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.system ? { system: o.system } : {}),
    ...(o.aptTimeouts ? { timeouts: o.aptTimeouts } : {}),
  };
}

/** Installs build-essential; false when it is already installed (a retry would fail the same way). */
async function installBuildTools(ctx: PartContext): Promise<boolean> {
  const opts = aptOptions(ctx, ["build-essential"]);
  try {
    if (!assertAptUsable(["build-essential"], opts)) {
      throw new DependencyInstallError("no C compiler is installed, and build-essential cannot be installed on macOS", { tool: "ferry" });
    }
    const buildEssential = parseAptPackage("build-essential");
    if (missingPackages([buildEssential], await queryInstalledDebs([buildEssential.name], opts)).length === 0) return false;
    assertRoot(["build-essential"], opts);
    ctx.installedAnything.value = true;
    await serializeApt(() => installAptPackages([buildEssential], ctx.accelerate, opts));
    return true;
  } catch (error) {
    if (!(error instanceof DependencyInstallError)) throw error;
    throw new DependencyInstallError(`A Python package needs a C compiler to build, and installing build-essential failed: ${error.message}`, {
      tool: error.tool,
      ...(error.command ? { command: error.command } : {}),
      ...(error.exitCode !== undefined ? { exitCode: error.exitCode } : {}),
      outputTail: error.outputTail,
      cause: error,
    });
  }
}

/** A set already found satisfied in this worker is answered without asking anything again. */
function answerFromMemo(key: string, report: PythonDependencyReport | SystemDependencyReport, started: number): boolean {
  const memo = satisfiedSets.get(key);
  if (!memo) return false;
  report.memoized = true;
  report.already_present = memo;
  report.total_ms = report.check_ms = ms(performance.now() - started);
  return true;
}

async function systemPart(packages: ParsedAptPackage[], ctx: PartContext): Promise<SystemDependencyReport> {
  const started = performance.now();
  const report = emptySystem();
  if (packages.length === 0) return report;
  report.requested = packages.map((p) => p.normalized);
  const key = `apt\u0000${[...report.requested].sort().join("\n")}`;
  if (answerFromMemo(key, report, started)) return report;

  const opts = aptOptions(ctx, report.requested);
  if (!assertAptUsable(report.requested, opts)) {
    report.skipped = "macOS: apt packages are not installed";
    report.total_ms = ms(performance.now() - started);
    return report;
  }
  const names = packages.map((p) => p.name);
  const before = await queryInstalledDebs(names, opts);
  report.check_ms = ms(performance.now() - started);
  const missing = missingPackages(packages, before);
  const versionOf = (map: ReadonlyMap<string, string>, p: ParsedAptPackage): InstalledPackage => ({ name: p.name, version: map.get(p.name) ?? null });

  if (missing.length === 0) {
    report.already_present = packages.map((p) => versionOf(before, p));
    ctx.verified.set(key, report.already_present);
    report.total_ms = ms(performance.now() - started);
    return report;
  }

  assertRoot(
    missing.map((p) => p.normalized),
    opts,
  );
  ctx.emit(`System: ${packages.length - missing.length} of ${packages.length} packages present; installing ${missing.map((p) => p.normalized).join(", ")}`);
  ctx.options.onProgress?.({ tool: "apt", packages: report.requested });
  const installStarted = performance.now();
  ctx.installedAnything.value = true;
  const result = await serializeApt(() => installAptPackages(missing, ctx.accelerate, opts));
  report.installer = result.installer;
  report.lists_updated = result.listsUpdated;

  const after = await queryInstalledDebs(names, opts);
  report.install_ms = ms(performance.now() - installStarted);
  const missingSet = new Set(missing);
  report.installed = missing.map((p) => versionOf(after, p));
  report.already_present = packages.filter((p) => !missingSet.has(p)).map((p) => versionOf(after, p));
  // A virtual package (apt installed a provider) has no dpkg entry of its own: do not remember
  // the set as satisfied, so the next request asks dpkg again rather than trusting a guess.
  if (missingPackages(packages, after).length === 0) ctx.verified.set(key, [...report.already_present, ...report.installed]);
  ctx.emit(`System: installed ${report.installed.map((p) => `${p.name} ${p.version ?? "(virtual)"}`).join(", ")} with ${result.installer} in ${Math.round(report.install_ms)} ms`);
  ctx.options.onProgress?.({ tool: "apt", packages: report.requested, done: true });
  report.total_ms = ms(performance.now() - started);
  return report;
}

/**
 * A logger that also hands each subprocess output line to `onLine`. runLoggedSubprocess logs
 * every line at debug with a `stream` field; that is the only place the lines surface.
 */
function tapSubprocessOutput(logger: Logger, onLine: (line: string) => void): Logger {
  const tapped = Object.create(logger) as Logger;
  const debug = (obj: unknown, msg?: unknown, ...rest: unknown[]) => {
    if (obj !== null && typeof obj === "object" && "stream" in obj && typeof msg === "string") onLine(msg);
    (logger.debug as (...args: unknown[]) => void).call(logger, obj, msg, ...rest);
  };
  Object.defineProperty(tapped, "debug", { value: debug, writable: true, configurable: true, enumerable: false });
  return tapped;
}
