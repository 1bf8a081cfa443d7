/**
 * Validation of user-given option objects: unknown keys fail with "did you mean", then zod
 * checks the values and fills defaults. One readable line per problem, prefixed by what was
 * being configured (`LiveServerless "embedder"`, `remote()`, `.with()`).
 */
import { z } from "zod";
import { ConfigError } from "./errors.ts";

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j]!;
      prev[j] = Math.min(above + 1, prev[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length]!;
}

/** The closest known word, when it is close enough to be a misspelling. */
function suggest(word: string, known: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const c = candidate.toLowerCase();
    const distance = c === lower ? 0 : c.startsWith(lower) || lower.startsWith(c) ? 1 : editDistance(lower, c);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function didYouMean(word: string, known: readonly string[]): string {
  const guess = suggest(word, known);
  return guess ? ` (did you mean "${guess}"?)` : ` (known: ${known.join(", ")})`;
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 8)
    .map((issue) => {
      const path = issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

/**
 * Parses `input` with `schema` (a z.object), failing on keys the schema does not know with a
 * suggestion. `what` prefixes every message.
 */
export function parseOptions<S extends z.ZodObject<z.ZodRawShape>>(schema: S, input: unknown, what: string): z.output<S> {
  if (input === undefined) input = {};
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw new ConfigError(`${what}: expected an options object, got ${input === null ? "null" : Array.isArray(input) ? "an array" : typeof input}`);
  const known = Object.keys(schema.shape);
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) throw new ConfigError(`${what}: unknown option "${key}"${didYouMean(key, known)}`);
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ConfigError(`${what}: ${formatIssues(parsed.error)}`);
  return parsed.data;
}
