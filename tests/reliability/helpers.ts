// Shared pieces of the reliability suites: the default vs. stress settings, a bounded wait for
// one job, and what a "readable" failed response looks like.
import { expect } from "vitest";
import type { FunctionResponse } from "../../protocol/wire.ts";

/** `make stress` sets FERRY_STRESS=1: larger runs, same assertions. */
export const STRESS = process.env.FERRY_STRESS === "1";

/** Fixed seed: a failure in CI replays exactly (fast-check prints the path to shrink from). */
export const FUZZ_SEED = Number(process.env.FERRY_FUZZ_SEED ?? 42);

/** Runs of each fuzz property: default for `make test`, larger for `make stress`. */
export function fuzzRuns(defaultRuns: number, stressRuns = defaultRuns * 10): number {
  return STRESS ? stressRuns : defaultRuns;
}

/** Resolves with the promise's value, or rejects naming `what` when it takes longer than `ms`. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (the worker hangs)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Longest error text a validation or decoding failure may answer with. */
export const MAX_ERROR_CHARS = 2_000;

/**
 * A failed response a person can act on: `success: false`, an `error_type`, and an `error` that
 * is one short message, not a dump of zod issues, a JS stack or a stringified object.
 */
export function expectReadableFailure(response: FunctionResponse, context = ""): void {
  const where = context ? ` (${context})` : "";
  expect(response.success, `success${where}`).toBe(false);
  expect(typeof response.error_type, `error_type${where}`).toBe("string");
  expect(typeof response.error, `error${where}`).toBe("string");
  const error = response.error as string;
  expect(error.length, `error length${where}`).toBeGreaterThan(10);
  expect(error.length, `error length${where}: ${error.slice(0, 200)}`).toBeLessThanOrEqual(MAX_ERROR_CHARS);
  expect(error, `error text${where}`).not.toContain("[object Object]");
  expect(error, `error text${where}`).not.toMatch(/ZodError|"code":\s*"|"expected":|invalid_type|\n\s+at .+\.(?:ts|js|mjs):\d+/);
}

/** A small counter of outcomes, printed at the end of a suite (visible with --reporter=verbose). */
export function tally<K extends string>(): { add: (key: K) => void; counts: Partial<Record<K, number>> } {
  const counts: Partial<Record<K, number>> = {};
  return { add: (key) => void (counts[key] = (counts[key] ?? 0) + 1), counts };
}
