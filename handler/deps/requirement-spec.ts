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
   * A spelling-insensitive key for this worker's memory of satisfied sets and for dropping
   * duplicates: the PEP 503 name, then the rest without whitespace outside quotes. Never sent
   * to an installer.
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
/** The leading run of name characters; only used for the memo key. */
const LEADING_NAME = /^[A-Za-z0-9._-]*/;

/** PEP 503 normalization. */
export function normalizePackageName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

function fail(reason: string): never {
  throw new SpecRejection(reason);
}

/**
 * The memo key of a requirement. Whitespace outside quoted strings only separates tokens in
 * PEP 508, so two entries that `packaging` accepts and that share a key are the same
 * requirement; an entry it refuses never reaches the memory.
 */
export function requirementKey(raw: string): string {
  const name = LEADING_NAME.exec(raw)?.[0] ?? "";
  const rest = raw.slice(name.length).replace(/("[^"]*"|'[^']*')|\s+/g, (_match, quoted: string | undefined) => quoted ?? "");
  return `${normalizePackageName(name)}${rest}`;
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
