/** The dependency step: validate, find what is missing, install only that. */
export { installDependencies, clearDependencyMemo } from "./install-dependencies.ts";
export type { InstallDependenciesOptions } from "./install-dependencies.ts";
export type { DependencyReport, PythonDependencyReport, SystemDependencyReport, InstalledPackage } from "./dependency-report.ts";
export { resolvePythonTarget, detectContainer, probeInterpreter } from "./python-target.ts";
export type { PythonTarget, PythonTargetKind, ResolvePythonTargetOptions } from "./python-target.ts";
export { DependencyInstallError, DependencySpecError } from "./errors.ts";
export { parseDependencyRequest, parseRequirement, parseAptPackage, normalizePackageName, requirementKey } from "./requirement-spec.ts";
export type { DependencyRequestInput, ParsedDependencies, ParsedRequirement, ParsedAptPackage } from "./requirement-spec.ts";
export { REQUIREMENTS_CHECK_SCRIPT, checkGuardedRequirements, createSubprocessRequirementChecker, RequirementCheckSchema } from "./requirement-checker.ts";
export type { RequirementCheck, RequirementCheckAnswer, RequirementChecker } from "./requirement-checker.ts";
