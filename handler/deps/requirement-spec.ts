/**
 * The dependency lists of a call, checked before any subprocess: the shared request rules
 * (protocol/request-rules.ts) guard every entry, and apt entries are parsed by Debian's syntax.
 *
 * Pip requirement syntax (PEP 508 / PEP 440: specifiers, markers, extras) is judged by
 * `packaging` alone, in the Python child (`_ferry_requirements.py`), which also gives the
 * canonical form the installer receives. Nothing here parses a requirement: what TypeScript
 * refuses is only what would let a string act as something other than a requirement.
 */
import { z } from "zod";
import { parseAptEntry, pipRequirementProblem, ruleOptionsFromEnv, type AptPackage, type RequestRuleOptions } from "../../protocol/request-rules.ts";
import { DependencySpecError, type SpecProblem } from "./errors.ts";

export interface ParsedRequirement {
  /** The entry as given (trimmed): what `packaging` judges. */
  raw: string;
  /** Where it stood in the call's `dependencies`, for errors that name the entry. */
  index: number;
  /**
   * A key that ignores the name's spelling and optional whitespace (requirementKey), for this
   * worker's memory of satisfied sets and for dropping duplicates. Never sent to an installer.
   */
  key: string;
}

export interface ParsedAptPackage extends AptPackage {
  raw: string;
}

export interface ParsedDependencies {
  python: ParsedRequirement[];
  system: ParsedAptPackage[];
  accelerateDownloads: boolean;
}

/** The part of a FunctionRequest this module reads. */
export const DependencyRequestSchema = z.object({
  dependencies: z
    .array(z.unknown())
    .nullish()
    .transform((v) => v ?? []),
  system_dependencies: z
    .array(z.unknown())
    .nullish()
    .transform((v) => v ?? []),
  accelerate_downloads: z
    .boolean()
    .nullish()
    .transform((v) => v ?? true),
});
export type DependencyRequestInput = z.input<typeof DependencyRequestSchema>;

export class SpecRejection extends Error {
  override readonly name = "SpecRejection";
}

const MAX_ENTRIES = 500;
/** The leading run of name characters; only read for the memo key. */
const LEADING_NAME = /^[A-Za-z0-9._-]*/;
/** A name PEP 503 normalization applies to: alphanumeric at both ends. */
const NORMALIZABLE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** PEP 503 normalization. */
export function normalizePackageName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

function fail(reason: string): never {
  throw new SpecRejection(reason);
}

/** PEP 508's one-character delimiters, around which whitespace is optional. */
const DELIMITERS = new Set(["<", ">", "=", "!", "~", ",", "(", ")", "[", "]"]);
/** The characters of comparison operators: whitespace between two of them splits an operator. */
const OPERATOR_CHARACTERS = new Set(["<", ">", "=", "!", "~"]);
/** Quoted strings (kept as written), whitespace runs, and everything else. */
const KEY_PIECES = /"[^"]*"|'[^']*'|\s+|[^\s"']+|["']/g;

/**
 * The memo key of a requirement: the PEP 503 name (alphanumeric at both ends), then the rest with each whitespace run
 * outside quotes made one space, dropped where it touches a delimiter (where PEP 508 makes it
 * optional). Whitespace between two words (`my package`) or inside an operator (`< =`) stays,
 * so an entry `packaging` refuses does not take the key of one it accepts; in a direct
 * reference, where a URL ends at whitespace, runs are only made single.
 */
export function requirementKey(raw: string): string {
  const name = LEADING_NAME.exec(raw)?.[0] ?? "";
  const pieces = raw.slice(name.length).match(KEY_PIECES) ?? [];
  const isQuoted = (piece: string) => piece.length > 1 && (piece[0] === '"' || piece[0] === "'");
  const directReference = pieces.some((piece) => !isQuoted(piece) && piece.includes("@"));
  // A name with a separator at either end stays as written: `packaging` judges those one by one.
  let key = NORMALIZABLE_NAME.test(name) ? normalizePackageName(name) : name;
  pieces.forEach((piece, i) => {
    if (!/^\s/.test(piece)) {
      key += piece;
      return;
    }
    const before = key.at(-1);
    const after = pieces[i + 1]?.[0];
    const optional =
      !directReference &&
      before !== undefined &&
      after !== undefined &&
      (DELIMITERS.has(before) || DELIMITERS.has(after)) &&
      !(OPERATOR_CHARACTERS.has(before) && OPERATOR_CHARACTERS.has(after));
    if (!optional) key += " ";
  });
  return key;
}

/**
 * Guards one pip requirement (the shared request rules, so the SDK and the worker refuse the
 * same entries with the same words); throws SpecRejection with the reason. Its syntax is
 * `packaging`'s to judge, in the Python child.
 */
export function parseRequirement(input: unknown, options: RequestRuleOptions = ruleOptionsFromEnv(), index = 0): ParsedRequirement {
  const problem = pipRequirementProblem(input, options);
  if (problem) fail(problem);
  const raw = (input as string).trim();
  return { raw, index, key: requirementKey(raw) };
}

/** Parses one apt package by Debian's syntax (the shared request rules); throws SpecRejection with the reason. */
export function parseAptPackage(input: unknown): ParsedAptPackage {
  const parsed = parseAptEntry(input);
  if (typeof parsed === "string") fail(parsed);
  return { raw: (input as string).trim(), ...parsed };
}

/**
 * Guards a call's dependency lists. Synchronous; throws DependencySpecError naming every
 * refused entry. Duplicates (same key) are dropped.
 */
export function parseDependencyRequest(request: DependencyRequestInput, options: RequestRuleOptions = ruleOptionsFromEnv()): ParsedDependencies {
  const parsed = DependencyRequestSchema.safeParse(request);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new DependencySpecError([
      { where: first?.path.join(".") || "request", entry: undefined, reason: first?.message ?? "is not a dependency request" },
    ]);
  }
  const { dependencies, system_dependencies, accelerate_downloads } = parsed.data;
  const problems: SpecProblem[] = [];
  if (dependencies.length > MAX_ENTRIES) problems.push({ where: "dependencies", entry: undefined, reason: `has more than ${MAX_ENTRIES} entries` });
  if (system_dependencies.length > MAX_ENTRIES) {
    problems.push({ where: "system_dependencies", entry: undefined, reason: `has more than ${MAX_ENTRIES} entries` });
  }
  const python: ParsedRequirement[] = [];
  const seenPython = new Set<string>();
  dependencies.slice(0, MAX_ENTRIES).forEach((entry, i) => {
    try {
      const req = parseRequirement(entry, options, i);
      if (!seenPython.has(req.key)) {
        seenPython.add(req.key);
        python.push(req);
      }
    } catch (error) {
      if (!(error instanceof SpecRejection)) throw error;
      problems.push({ where: `dependencies[${i}]`, entry, reason: error.message });
    }
  });
  const system: ParsedAptPackage[] = [];
  const seenSystem = new Set<string>();
  system_dependencies.slice(0, MAX_ENTRIES).forEach((entry, i) => {
    try {
      const pkg = parseAptPackage(entry);
      if (!seenSystem.has(pkg.normalized)) {
        seenSystem.add(pkg.normalized);
        system.push(pkg);
      }
    } catch (error) {
      if (!(error instanceof SpecRejection)) throw error;
      problems.push({ where: `system_dependencies[${i}]`, entry, reason: error.message });
    }
  });
  if (problems.length > 0) throw new DependencySpecError(problems);
  return { python, system, accelerateDownloads: accelerate_downloads };
}
