/**
 * Parsing and safety rules for the dependency lists of a call.
 *
 * Requirements are parsed as far as PEP 508 needs for validation and a canonical form (name,
 * extras, version clauses, marker, direct URL); versions are never compared here: whether an
 * installed version satisfies a specifier is decided by `packaging` in the Python child.
 *
 * Everything here is synchronous and runs before any subprocess. Nothing reaches a shell
 * either way, but an entry that looks like an installer option or shell syntax is refused
 * outright: it is either a mistake or an attempt to smuggle options to pip or apt.
 */
import { z } from "zod";
import { parseAptEntry, pipRequirementProblem, ruleOptionsFromEnv, type AptPackage, type RequestRuleOptions } from "../../protocol/request-rules.ts";
import { DependencySpecError, type SpecProblem } from "./errors.ts";

export interface ParsedRequirement {
  /** The entry as given (trimmed). */
  raw: string;
  /** The name as written. */
  name: string;
  /** PEP 503 normalized name: lowercase, runs of `-_.` as one `-`. */
  normalizedName: string;
  /** Normalized, sorted, unique. */
  extras: string[];
  /** Version clauses without spaces, sorted, joined by ","; "" when none. */
  specifier: string;
  /** Marker with canonical spacing and double quotes; undefined when none. */
  marker?: string;
  /** Direct URL (https:// or file://); undefined when none. */
  url?: string;
  /** The canonical requirement string: what the checker and the installer receive. */
  normalized: string;
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
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/;
const NAME_FULL = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const VERSION_OPERATOR = /^(===|~=|==|!=|<=|>=|<|>)/;
/** PEP 440-shaped version (with `.*` wildcards and local labels); strictness is pip's job. */
const VERSION = /^v?[0-9][A-Za-z0-9.+!_*-]*$/i;
const ARBITRARY_VERSION = /^[^\s,;()'"]+$/;
const URL_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
/** Characters allowed in a direct URL: RFC 3986 minus quotes, parens, `;`, `&`, `$` and the like. */
const URL_CHARS = /^[A-Za-z0-9._~:/?#\[\]@!*+,=%-]+$/;

const MARKER_VARIABLES = new Set([
  "python_version",
  "python_full_version",
  "os_name",
  "sys_platform",
  "platform_release",
  "platform_system",
  "platform_version",
  "platform_machine",
  "platform_python_implementation",
  "implementation_name",
  "implementation_version",
  "extra",
  // Legacy spellings that `packaging` still accepts.
  "os.name",
  "sys.platform",
  "platform.version",
  "platform.machine",
  "platform.python_implementation",
  "python_implementation",
]);

/** PEP 503 normalization. */
export function normalizePackageName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

/** The text with quoted parts blanked, so checks for options ignore marker string values. */
function outsideQuotes(text: string): string {
  return text.replace(/"[^"]*"|'[^']*'/g, (m) => " ".repeat(m.length));
}

function fail(reason: string): never {
  throw new SpecRejection(reason);
}

/**
 * Parses one pip requirement; throws SpecRejection with the reason. The shared request rules
 * run first, so the SDK and the worker refuse the same entries with the same words.
 */
export function parseRequirement(input: unknown, options: RequestRuleOptions = ruleOptionsFromEnv()): ParsedRequirement {
  const problem = pipRequirementProblem(input, options);
  if (problem) fail(problem);
  const raw = (input as string).trim();
  if ((outsideQuotes(raw).match(/;/g) ?? []).length > 1) fail("contains more than one ';' (only one environment marker is allowed)");

  const nameMatch = NAME.exec(raw);
  if (!nameMatch) fail("is not a PEP 508 requirement (expected a package name first; local paths are not accepted)");
  const name = nameMatch[0];
  let rest = raw.slice(name.length).trimStart();

  let extras: string[] = [];
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) fail("has an unclosed '[' (extras)");
    const inner = rest.slice(1, close).trim();
    extras = inner === "" ? [] : inner.split(",").map((e) => e.trim());
    for (const extra of extras) if (!NAME_FULL.test(extra)) fail(`has an invalid extra name '${extra}'`);
    extras = [...new Set(extras.map(normalizePackageName))].sort();
    rest = rest.slice(close + 1).trimStart();
  }

  let url: string | undefined;
  let specifier = "";
  let markerText: string | undefined;

  if (rest.startsWith("@")) {
    rest = rest.slice(1).trimStart();
    const end = rest.search(/\s/);
    const urlText = end < 0 ? rest : rest.slice(0, end);
    url = checkUrl(urlText);
    rest = end < 0 ? "" : rest.slice(end).trimStart();
    if (rest !== "") {
      if (!rest.startsWith(";")) fail(`has unexpected text after the URL: '${rest}'`);
      markerText = rest.slice(1);
    }
  } else {
    const semicolon = outsideQuotes(rest).indexOf(";");
    const specText = (semicolon < 0 ? rest : rest.slice(0, semicolon)).trim();
    if (semicolon >= 0) markerText = rest.slice(semicolon + 1);
    specifier = parseSpecifier(specText);
  }

  let marker: string | undefined;
  if (markerText !== undefined) {
    if (markerText.trim() === "") fail("has ';' without an environment marker after it");
    marker = parseMarker(markerText);
  }

  const normalizedName = normalizePackageName(name);
  const extrasPart = extras.length > 0 ? `[${extras.join(",")}]` : "";
  const body = url !== undefined ? ` @ ${url}` : specifier;
  const normalized = `${normalizedName}${extrasPart}${body}${marker !== undefined ? ` ; ${marker}` : ""}`;
  return {
    raw,
    name,
    normalizedName,
    extras,
    specifier,
    ...(marker !== undefined ? { marker } : {}),
    ...(url !== undefined ? { url } : {}),
    normalized,
  };
}

function checkUrl(text: string): string {
  const scheme = URL_SCHEME.exec(text)?.[1]?.toLowerCase();
  if (!scheme) fail(`has '@' but '${text}' is not a URL`);
  if (scheme !== "https" && scheme !== "file") {
    fail(`names a ${scheme}:// URL; only https:// and file:// direct URLs are accepted`);
  }
  if (!text.slice(scheme.length + 1).startsWith("//")) fail(`has a malformed URL '${text}' (expected ${scheme}://...)`);
  if (!URL_CHARS.test(text)) fail(`has a URL with characters that are not accepted: '${text}'`);
  try {
    new URL(text);
  } catch {
    fail(`has a malformed URL '${text}'`);
  }
  return text;
}

function parseSpecifier(text: string): string {
  if (text === "") return "";
  let body = text;
  if (body.startsWith("(")) {
    if (!body.endsWith(")")) fail(`has an unbalanced '(' in the version specifier '${text}'`);
    body = body.slice(1, -1).trim();
    if (body === "") return "";
  }
  const clauses = body.split(",").map((c) => c.trim());
  const out: string[] = [];
  for (const clause of clauses) {
    const op = VERSION_OPERATOR.exec(clause);
    if (!op) {
      fail(
        clause === ""
          ? `has an empty clause in the version specifier '${text}'`
          : `has '${clause}' where a version specifier (like '>=1.2') was expected`,
      );
    }
    const version = clause.slice(op[0].length).trim();
    const ok = op[0] === "===" ? ARBITRARY_VERSION.test(version) : VERSION.test(version);
    if (!ok) fail(`has an invalid version '${version}' in '${clause}'`);
    out.push(`${op[0]}${version}`);
  }
  return [...new Set(out)].sort().join(",");
}

type MarkerToken = { kind: "lparen" | "rparen" | "and" | "or" | "op" | "var" | "str"; text: string };

function tokenizeMarker(text: string): MarkerToken[] {
  const tokens: MarkerToken[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "(" || c === ")") {
      tokens.push({ kind: c === "(" ? "lparen" : "rparen", text: c });
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail(`has an unterminated string in its marker`);
      tokens.push({ kind: "str", text: text.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    const op = /^(===|==|!=|<=|>=|~=|<|>)/.exec(text.slice(i));
    if (op) {
      tokens.push({ kind: "op", text: op[0] });
      i += op[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
    if (!word) fail(`has an unexpected character '${c}' in its marker`);
    const w = word[0];
    i += w.length;
    if (w === "and" || w === "or") tokens.push({ kind: w, text: w });
    else if (w === "in") tokens.push({ kind: "op", text: "in" });
    else if (w === "not") {
      const after = /^\s+in\b/.exec(text.slice(i));
      if (!after) fail("has 'not' without 'in' in its marker");
      i += after[0].length;
      tokens.push({ kind: "op", text: "not in" });
    } else if (MARKER_VARIABLES.has(w)) tokens.push({ kind: "var", text: w });
    else fail(`after ';' expects an environment marker (e.g. python_version >= "3.9"); '${w}' is not a marker variable`);
  }
  return tokens;
}

/** Validates a PEP 508 marker and returns it with canonical spacing. */
function parseMarker(text: string): string {
  const tokens = tokenizeMarker(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const value = (): string => {
    const t = tokens[pos++];
    if (!t || (t.kind !== "var" && t.kind !== "str")) fail(`has an incomplete environment marker '${text.trim()}'`);
    if (t.kind === "var") return t.text;
    return t.text.includes('"') ? `'${t.text}'` : `"${t.text}"`;
  };
  const atom = (): string => {
    if (peek()?.kind === "lparen") {
      pos++;
      const inner = orExpr();
      if (tokens[pos++]?.kind !== "rparen") fail(`has an unbalanced '(' in its marker`);
      return `(${inner})`;
    }
    const left = value();
    const op = tokens[pos++];
    if (!op || op.kind !== "op") fail(`has an incomplete environment marker '${text.trim()}'`);
    const right = value();
    return `${left} ${op.text} ${right}`;
  };
  const andExpr = (): string => {
    let out = atom();
    while (peek()?.kind === "and") {
      pos++;
      out += ` and ${atom()}`;
    }
    return out;
  };
  const orExpr = (): string => {
    let out = andExpr();
    while (peek()?.kind === "or") {
      pos++;
      out += ` or ${andExpr()}`;
    }
    return out;
  };
  const out = orExpr();
  if (pos !== tokens.length) fail(`has unexpected text in its environment marker '${text.trim()}'`);
  return out;
}

/** Parses one apt package by Debian's syntax (the shared request rules); throws SpecRejection with the reason. */
export function parseAptPackage(input: unknown): ParsedAptPackage {
  const parsed = parseAptEntry(input);
  if (typeof parsed === "string") fail(parsed);
  return { raw: (input as string).trim(), ...parsed };
}

/**
 * Validates a call's dependency lists. Synchronous; throws DependencySpecError naming every
 * refused entry. Duplicates (after normalization) are dropped.
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
      const req = parseRequirement(entry, options);
      if (!seenPython.has(req.normalized)) {
        seenPython.add(req.normalized);
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
