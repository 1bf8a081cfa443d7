/** What the dependency step answers: per part, what was asked, present, installed, and where the time went. */
import type { AptInstaller } from "./apt-installer.ts";
import type { PythonInstaller } from "./pip-installer.ts";

export interface InstalledPackage {
  name: string;
  version: string | null;
  /** The requirement it answers (Python only). */
  requirement?: string;
}

export interface PythonDependencyReport {
  python: string | null;
  /** packaging's canonical forms, as checked and installed; the entries as given when answered from memory. */
  requested: string[];
  already_present: InstalledPackage[];
  installed: InstalledPackage[];
  /** Requirements whose environment marker excludes this interpreter. */
  not_applicable: string[];
  /** Answered from this worker's memory of satisfied sets, without asking Python. */
  memoized: boolean;
  installer: PythonInstaller | null;
  build_tools_installed: boolean;
  check_ms: number;
  install_ms: number;
  total_ms: number;
}

export interface SystemDependencyReport {
  requested: string[];
  already_present: InstalledPackage[];
  installed: InstalledPackage[];
  memoized: boolean;
  installer: AptInstaller | null;
  lists_updated: boolean;
  /** Why the system packages were skipped (macOS), else null. */
  skipped: string | null;
  check_ms: number;
  install_ms: number;
  total_ms: number;
}

export interface DependencyReport {
  python: PythonDependencyReport;
  system: SystemDependencyReport;
  /** Python and system parts ran at the same time. */
  parallel: boolean;
  total_ms: number;
}

export function summarizeReport(report: DependencyReport) {
  return {
    python: { present: report.python.already_present.length, installed: report.python.installed.map((p) => `${p.name}==${p.version}`) },
    system: { present: report.system.already_present.length, installed: report.system.installed.map((p) => `${p.name}=${p.version}`) },
    total_ms: report.total_ms,
  };
}

export function emptyPython(python: string | null): PythonDependencyReport {
  return {
    python,
    requested: [],
    already_present: [],
    installed: [],
    not_applicable: [],
    memoized: false,
    installer: null,
    build_tools_installed: false,
    check_ms: 0,
    install_ms: 0,
    total_ms: 0,
  };
}

export function emptySystem(): SystemDependencyReport {
  return {
    requested: [],
    already_present: [],
    installed: [],
    memoized: false,
    installer: null,
    lists_updated: false,
    skipped: null,
    check_ms: 0,
    install_ms: 0,
    total_ms: 0,
  };
}
