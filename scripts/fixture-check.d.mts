/** Types of fixture-check.mjs (a plain module shared with `make test-handler`). */
export function checkFixture(fixture: unknown, output: unknown, exitCode: number, python?: string): string[];
