/**
 * Keyword arguments. A call's positional arguments are its TypeScript arguments; keyword
 * arguments go in a trailing `kwargs({...})` marker, so a plain object stays a positional
 * `dict` and the two can never be confused:
 *
 *     await generate("a prompt", kwargs({ max_tokens: 64, temperature: 0.2 }))
 *
 * Keys whose value is `undefined` are left out, so Python's default applies.
 */
const KWARGS = Symbol.for("ferry.kwargs");
declare const KEYS: unique symbol;

export interface Kwargs<T extends Record<string, unknown> = Record<string, unknown>> {
  readonly [KWARGS]: T;
  /**
   * Never present at run time: it makes `kwargs({ a, typo })` fail to type-check where only `a`
   * is accepted (the keys given must be keys the function takes, or it has `**kwargs`).
   */
  readonly [KEYS]?: T extends unknown ? keyof T : never;
}

export function kwargs<T extends Record<string, unknown>>(values: T): Kwargs<T> {
  return Object.freeze({ [KWARGS]: values }) as Kwargs<T>;
}

export function isKwargs(value: unknown): value is Kwargs {
  return typeof value === "object" && value !== null && KWARGS in value;
}

/** Splits call arguments into positional ones and keyword ones (a trailing marker). */
export function splitArgs(args: readonly unknown[]): { positional: unknown[]; keywords: Record<string, unknown> } {
  const last = args[args.length - 1];
  if (isKwargs(last)) {
    const keywords: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(last[KWARGS])) if (value !== undefined) keywords[key] = value;
    return { positional: args.slice(0, -1), keywords };
  }
  return { positional: [...args], keywords: {} };
}

/** Positional arguments, followed by keyword arguments: optionally, or always when a keyword argument is required. */
export type CallArgs<A extends unknown[], K extends Record<string, unknown>> = {} extends K ? A | [...A, Kwargs<K>] : [...A, Kwargs<K>];
