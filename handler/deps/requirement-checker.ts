/**
 * What the dependency step needs from a Python interpreter: which requirements are already
 * satisfied (PEP 440/508 judged by `packaging` in Python, never re-implemented here) and a
 * way to make a running interpreter see packages installed after it started.
 *
 * The Python engine's persistent child implements this (a warm check costs a few ms). The
 * subprocess checker below runs the same check (`_ferry_requirements.py`) in a fresh Python,
 * for use before a child exists.
 */
import { pythonSourcePath } from "../engine/python-engine.ts";
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import { runLoggedSubprocess, tailLines } from "../subprocess.ts";
import { pipRequirementProblem } from "../../protocol/request-rules.ts";
import { DependencyInstallError, DependencySpecError, type SpecProblem } from "./errors.ts";
import type { ParsedRequirement } from "./requirement-spec.ts";

export const RequirementCheckSchema = z.object({
  /** `packaging`'s canonical form (what the installer receives); the entry as sent when unparseable. */
  requirement: z.string(),
  /** The distribution name; "" (or null from some checkers) when the requirement could not be parsed. */
  name: z
    .string()
    .nullable()
    .transform((v) => v ?? ""),
  installed_version: z.string().nullable(),
  satisfied: z.boolean(),
  /** False when the requirement's marker excludes this environment (nothing to install). */
  marker_applies: z.boolean(),
  error: z
    .string()
    .nullish()
    .transform((v) => v ?? undefined),
});
/** One answer after validation (name "" when unparseable, error undefined when none). */
export type RequirementCheck = z.output<typeof RequirementCheckSchema>;
/** One answer as a checker may give it (the engine's `name` may be null). */
export type RequirementCheckAnswer = z.input<typeof RequirementCheckSchema>;
export const RequirementCheckListSchema = z.array(RequirementCheckSchema);

export interface RequirementChecker {
  /** The interpreter whose environment is checked (and installed into). */
  readonly python: string;
  checkRequirements(requirements: string[]): Promise<RequirementCheckAnswer[]>;
  /** Makes the interpreter see distributions installed since it started (`importlib.invalidate_caches()`). */
  invalidateImportCaches(): Promise<void>;
}

/**
 * The check itself is Python (handler/python/_ferry_requirements.py, beside the runner): it reads
 * versions from the metadata directories' names where they carry one, because parsing each
 * METADATA file is what makes a naive check slow (about 0.15 ms per distribution).
 */
export const REQUIREMENTS_CHECK_SCRIPT = pythonSourcePath("_ferry_requirements.py");

/**
 * Asks the checker about guarded requirements and returns its answers in the same order.
 * `packaging` judges their syntax there: every entry it cannot parse is refused with a
 * DependencySpecError (InvalidRequest) that names it, before any installer runs. The
 * canonical forms it answers with go through the request rules again, since they, not the
 * entries as given, are what reach the installer.
 */
export async function checkGuardedRequirements(checker: RequirementChecker, requirements: readonly ParsedRequirement[]): Promise<RequirementCheck[]> {
  const texts = requirements.map((r) => r.raw);
  let raw: unknown;
  try {
    raw = await checker.checkRequirements(texts);
  } catch (error) {
    if (error instanceof DependencyInstallError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new DependencyInstallError(`Could not check the installed Python packages in ${checker.python}: ${message}`, { tool: "python", cause: error });
  }
  const parsed = RequirementCheckListSchema.safeParse(raw);
  if (!parsed.success || parsed.data.length !== texts.length) {
    throw new DependencyInstallError(`The Python child answered the requirements check with an unexpected shape`, {
      tool: "python",
      outputTail: parsed.success ? `expected ${texts.length} results, got ${parsed.data.length}` : parsed.error.message,
    });
  }
  const problems: SpecProblem[] = [];
  parsed.data.forEach((answer, i) => {
    const req = requirements[i]!;
    const where = `dependencies[${req.index}]`;
    if (answer.name === "") {
      problems.push({ where, entry: req.raw, reason: `is not a valid requirement (PEP 508, as judged by packaging): ${answer.error ?? "unparseable"}` });
      return;
    }
    const unsafe = pipRequirementProblem(answer.requirement, { allowDirectReferences: true });
    if (unsafe) problems.push({ where, entry: req.raw, reason: `its canonical form ${JSON.stringify(answer.requirement)} ${unsafe}` });
  });
  if (problems.length > 0) throw new DependencySpecError(problems);
  return parsed.data;
}

export interface SubprocessCheckerOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** A RequirementChecker that starts the check script for each check (about 50-100 ms a check). */
export function createSubprocessRequirementChecker(python: string, options: SubprocessCheckerOptions): RequirementChecker {
  return {
    python,
    async checkRequirements(requirements) {
      if (requirements.length === 0) return [];
      const result = await runLoggedSubprocess(python, [REQUIREMENTS_CHECK_SCRIPT], {
        operation: "requirements-check",
        timeoutMs: options.timeoutMs ?? 60_000,
        logger: options.logger,
        input: JSON.stringify(requirements),
        ...(options.env ? { env: options.env } : {}),
      });
      if (!result.ok) {
        throw new DependencyInstallError(
          `Could not check the installed Python packages with ${python}: ${result.spawnError ?? `exit ${result.exitCode}`}`,
          { tool: "python", exitCode: result.exitCode, outputTail: tailLines(result.stderr, 20) },
        );
      }
      return RequirementCheckListSchema.parse(JSON.parse(result.stdout));
    },
    async invalidateImportCaches() {
      // Each check runs in a fresh interpreter: there is nothing cached to invalidate.
    },
  };
}
