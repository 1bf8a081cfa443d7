/**
 * The request rules: what a call may ask for in its package lists and environment. The SDK
 * applies them before it sends anything and the worker (or the local server) applies them
 * again before any subprocess or spawn, so both sides refuse the same inputs with the same
 * words.
 *
 * These rules are a guard, not a parser: pip requirements are parsed further by the worker
 * (and by `packaging` in its Python child). What is refused here is what would let a string
 * act as something other than a package: installer options, shell syntax, apt's own
 * `name-` (remove) and `name+` (install) suffixes, direct references that make pip open a
 * file or an address of the caller's choice, and control characters in the environment.
 */

export interface RequestRuleOptions {
  /**
   * Accept pip direct references (`name @ https://...`, `name @ file:///...`). Off by default:
   * they make the worker read local files or connect to any address (a cloud metadata
   * service included). `FERRY_ALLOW_DIRECT_REFERENCES=1` turns them on.
   */
  allowDirectReferences?: boolean;
}

/** The setting that accepts pip direct references, read from an environment. */
export function ruleOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RequestRuleOptions {
  return { allowDirectReferences: env.FERRY_ALLOW_DIRECT_REFERENCES === "1" };
}

export const MAX_REQUIREMENT_LENGTH = 1000;
export const MAX_APT_ENTRY_LENGTH = 200;
/** Each of an environment's values; RunPod's own templates stop far below this. */
export const MAX_ENV_VALUE_LENGTH = 32 * 1024;

const CONTROL = /[\u0000-\u001f\u007f]/;
/** Characters that only mean something to a shell; never part of a requirement. */
const PIP_SHELL_METACHARACTERS = /[`$|&\\{}^]/;
const APT_SHELL_METACHARACTERS = /[`$|&;<>\\{}()'"*?!^]/;
const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** POSIX portable names: what `env` and every shell accept as a variable. */
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Debian policy 5.6.1: lowercase letters, digits, `+ - .`; at least two characters, alphanumeric first. */
const APT_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
/** dpkg architecture names (`amd64`, `arm64`, `i386`, `all`). */
const APT_ARCH = /^[a-z0-9][a-z0-9-]*$/;
/** Debian policy 5.6.12: `[epoch:]upstream[-revision]`, upstream starting with a digit. */
const APT_VERSION = /^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*$/;
/** A release or suite for `name/release` (`bookworm-backports`). */
const APT_RELEASE = /^[A-Za-z0-9][A-Za-z0-9.+~-]*$/;

function describeType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}

/** Blanks quoted parts, so checks for options ignore the string values of a marker. */
function outsideQuotes(text: string): string {
  return text.replace(/"[^"]*"|'[^']*'/g, (m) => " ".repeat(m.length));
}

/** Why a pip requirement is refused, or undefined when the guard lets it through. */
export function pipRequirementProblem(entry: unknown, options: RequestRuleOptions = {}): string | undefined {
  if (typeof entry !== "string") return `must be a string, got ${describeType(entry)}`;
  const raw = entry.trim();
  if (raw.length === 0) return "is empty";
  if (raw.length > MAX_REQUIREMENT_LENGTH) return `is longer than ${MAX_REQUIREMENT_LENGTH} characters`;
  if (CONTROL.test(raw)) return "contains a control character or line break";
  if (raw.startsWith("-")) return "begins with '-': installer options (-e, -r, --index-url, ...) are not accepted, only requirements";
  const unquoted = outsideQuotes(raw);
  const option = /(?:^|\s)(--?[A-Za-z][^\s]*)/.exec(unquoted);
  if (option) return `contains the option '${option[1]}': installer options are not accepted, only a requirement`;
  const meta = PIP_SHELL_METACHARACTERS.exec(raw);
  if (meta) return `contains the shell metacharacter '${meta[0]}'`;
  const bare = URL_SCHEME.exec(raw);
  if (bare) return `is a bare URL; name the package: 'name @ ${raw.split(/\s/)[0]}'`;
  const beforeMarker = unquoted.split(";")[0] ?? "";
  if (beforeMarker.includes("@") && !options.allowDirectReferences) {
    return "is a direct reference ('name @ URL'): pip would fetch that URL or file itself; direct references are refused unless the worker sets FERRY_ALLOW_DIRECT_REFERENCES=1";
  }
  return undefined;
}

export interface AptPackage {
  /** The package name alone: what dpkg-query reports as `${Package}`. */
  name: string;
  arch?: string;
  /** Exact version after `=`. */
  version?: string;
  /** Release after `/`. */
  release?: string;
  /** What apt-get receives: `name[:arch][=version|/release]`. */
  normalized: string;
}

/** Parses an apt package by Debian's syntax; returns the reason as a string when refused. */
export function parseAptEntry(entry: unknown): AptPackage | string {
  if (typeof entry !== "string") return `must be a string, got ${describeType(entry)}`;
  const raw = entry.trim();
  if (raw.length === 0) return "is empty";
  if (raw.length > MAX_APT_ENTRY_LENGTH) return `is longer than ${MAX_APT_ENTRY_LENGTH} characters`;
  if (CONTROL.test(raw)) return "contains a control character or line break";
  if (raw.startsWith("-")) return "begins with '-': apt options (-o, --allow-..., ...) are not accepted, only package names";
  if (/\s/.test(raw)) return "contains whitespace: give one package per entry, without options";
  const meta = APT_SHELL_METACHARACTERS.exec(raw);
  if (meta) return `contains the shell metacharacter '${meta[0]}'`;
  const match = /^([^:=/]*)(?::([^=/]*))?(?:=(.*)|\/(.*))?$/.exec(raw);
  if (!match) return "is not an apt package (expected name, name:arch, name=version or name/release)";
  const [, name = "", arch, version, release] = match;
  if (!APT_NAME.test(name)) {
    return "is not a Debian package name (two or more lowercase letters, digits, '+', '.', '-', starting with a letter or digit)";
  }
  // apt-get reads a trailing '-' as "remove this package" and a trailing '+' as "install it";
  // no Debian package name ends in '-', and those ending in '+' end in '++' (g++).
  if (name.endsWith("-")) return "ends with '-', which apt-get reads as \"remove this package\"";
  if (name.endsWith("+") && !name.endsWith("++")) return "ends with '+', which apt-get reads as an action, not as part of the name";
  if (arch !== undefined && !APT_ARCH.test(arch)) return `has an invalid architecture '${arch}' after ':'`;
  if (version !== undefined && !APT_VERSION.test(version)) return `has an invalid version '${version}' after '=' (Debian versions are [epoch:]upstream[-revision] of letters, digits and . + ~ -)`;
  if (release !== undefined && !APT_RELEASE.test(release)) return `has an invalid release '${release}' after '/'`;
  const normalized = `${name}${arch !== undefined ? `:${arch}` : ""}${version !== undefined ? `=${version}` : ""}${release !== undefined ? `/${release}` : ""}`;
  return {
    name,
    ...(arch !== undefined ? { arch } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(release !== undefined ? { release } : {}),
    normalized,
  };
}

/** Why an apt package entry is refused, or undefined when it is accepted. */
export function aptPackageProblem(entry: unknown): string | undefined {
  const parsed = parseAptEntry(entry);
  return typeof parsed === "string" ? parsed : undefined;
}

/** Why one environment variable is refused, or undefined. A process cannot receive NUL, and a line break forges lines in env files and logs. */
export function envEntryProblem(key: string, value: unknown): string | undefined {
  if (!ENV_KEY.test(key)) return `${JSON.stringify(key)} is not a valid environment variable name (letters, digits and '_', not starting with a digit)`;
  if (typeof value !== "string") return `the value of ${key} must be a string, got ${describeType(value)}`;
  if (value.includes("\u0000")) return `the value of ${key} contains a NUL character, which no process can receive in its environment`;
  if (/[\r\n]/.test(value)) return `the value of ${key} contains a line break`;
  if (value.length > MAX_ENV_VALUE_LENGTH) return `the value of ${key} is longer than ${MAX_ENV_VALUE_LENGTH} characters`;
  return undefined;
}

export interface RuleProblem {
  /** `dependencies[2]`, `system_dependencies[0]`, `env.TOKEN`. */
  where: string;
  entry: unknown;
  reason: string;
}

/** Every refused variable of an environment, in order. */
export function envProblems(env: Readonly<Record<string, unknown>>): RuleProblem[] {
  const problems: RuleProblem[] = [];
  for (const [key, value] of Object.entries(env)) {
    const reason = envEntryProblem(key, value);
    if (reason) problems.push({ where: `env.${key}`, entry: undefined, reason });
  }
  return problems;
}

/** Every refused entry of a call's package lists, in order. */
export function dependencyProblems(
  lists: { dependencies?: readonly unknown[]; systemDependencies?: readonly unknown[] },
  options: RequestRuleOptions = {},
): RuleProblem[] {
  const problems: RuleProblem[] = [];
  (lists.dependencies ?? []).forEach((entry, i) => {
    const reason = pipRequirementProblem(entry, options);
    if (reason) problems.push({ where: `dependencies[${i}]`, entry, reason });
  });
  (lists.systemDependencies ?? []).forEach((entry, i) => {
    const reason = aptPackageProblem(entry);
    if (reason) problems.push({ where: `system_dependencies[${i}]`, entry, reason });
  });
  return problems;
}

/** One line naming each problem: `dependencies[1] "-e .": begins with '-'...`. */
export function describeProblems(problems: readonly RuleProblem[]): string {
  return problems.map((p) => `${p.where}${typeof p.entry === "string" ? ` ${JSON.stringify(p.entry)}` : ""}: ${p.reason}`).join("; ");
}
