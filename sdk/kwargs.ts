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

/** Keyword arguments for a call, made by {@link kwargs}; always the last argument. */
export interface Kwargs<T extends Record<string, unknown> = Record<string, unknown>> {
  readonly [KWARGS]: T;
  /** Never present at run time: the keys given, which `Accepted` compares with the keys a function takes. */
  readonly [KEYS]?: keyof T;
}

/**
 * The keyword arguments a function with keyword parameters `K` accepts. An object type rather
 * than `Kwargs<K>`, so that it is compared member by member: `kwargs({ a, typo })` fails where
 * only `a` is a parameter (unless the function has `**kwargs`, whose keys are any string).
 */
type Accepted<K extends Record<string, unknown>> = { readonly [KWARGS]: K; readonly [KEYS]?: keyof K };

/**
 * Marks `values` as the call's Python keyword arguments (undefined values are left out, so
 * Python's default applies).
 *
 * @example
 * ```ts
 * const greet = py.function<[name: string], string, { greeting?: string }>(source, "greet");
 * await greet("Ada", kwargs({ greeting: "Hi" })); // greet("Ada", greeting="Hi")
 * ```
 */
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

/**
 * Keyword arguments after the positional ones: after every required one, and after any number
 * of the optional ones (`f(title, kwargs({ max_length: 8 }))` leaves `separator` to its default).
 */
type WithKwargs<A extends unknown[], K extends Record<string, unknown>> = number extends A["length"]
  ? [...A, Accepted<K>] // an array, or a tuple with a rest element
  : A extends []
    ? [Accepted<K>]
  : A extends [infer Head, ...infer Tail]
    ? [Head, ...WithKwargs<Tail, K>]
    : A extends [(infer Head)?, ...infer Tail]
      ? [Accepted<K>] | [Head, ...WithKwargs<Tail, K>]
      : [...A, Accepted<K>];

/** Positional arguments, followed by keyword arguments: optionally, or always when a keyword argument is required. */
export type CallArgs<A extends unknown[], K extends Record<string, unknown>> = {} extends K ? A | WithKwargs<A, K> : WithKwargs<A, K>;
