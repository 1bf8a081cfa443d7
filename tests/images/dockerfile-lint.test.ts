/**
 * The Dockerfiles through the Dockerfile linters that install from npm: dockerfile-utils
 * (the validator behind VS Code's Docker support: syntax, flags, stage names, instruction
 * rules) and dockerfilelint (best practices: tags, apt usage, ...).
 *
 * Neither is a dependency of the project yet, so each runs when it can be resolved, from the
 * project's node_modules or from a prefix named by DOCKERFILE_LINT_PREFIX
 * (`npm install --prefix /tmp/lint dockerfile-utils dockerfilelint`), and is skipped, saying
 * so, otherwise.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseDockerfile } from "./dockerfile-parse.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DOCKERFILES = ["Dockerfile", "Dockerfile.cpu"] as const;

/**
 * Findings left in on purpose, with the reason. The issue asks for apt's package lists to stay
 * in the image, so a job's apt installs need no `apt-get update` first.
 */
const ACCEPTED_DOCKERFILELINT_RULES: Record<string, string> = {
  "apt-get_missing_rm": "package lists are kept on purpose",
};

/**
 * Lines of FROMs that name no image to tag: `scratch`, or an earlier build stage (the uv stage
 * picked by a build argument). dockerfilelint asks every FROM for a tag.
 */
function untaggableFromLines(content: string): Set<number> {
  const stages = parseDockerfile(content).stages;
  const names = new Set(stages.map((s) => s.name).filter((n): n is string => n !== null));
  return new Set(stages.filter((s) => s.image === "scratch" || names.has(s.image)).map((s) => s.fromLine));
}

function load<T>(pkg: string): T | null {
  const bases = [join(root, "package.json"), ...(process.env.DOCKERFILE_LINT_PREFIX ? [join(resolve(process.env.DOCKERFILE_LINT_PREFIX), "package.json")] : [])];
  for (const base of bases) {
    try {
      return createRequire(base)(pkg) as T;
    } catch {
      // not installed there
    }
  }
  return null;
}

interface UtilsDiagnostic {
  severity?: number;
  message: string;
  range: { start: { line: number } };
}
const dockerfileUtils = load<{ validate(content: string): UtilsDiagnostic[] }>("dockerfile-utils");

interface LintItem {
  rule: string;
  line: number;
  title: string;
  description: string;
}
const dockerfilelint = load<{ run(configPath: string, content: string): LintItem[] }>("dockerfilelint");

describe.each(DOCKERFILES)("%s", (name) => {
  const content = readFileSync(join(root, name), "utf8");

  it.skipIf(!dockerfileUtils)("passes dockerfile-utils with no error and no warning", () => {
    const findings = dockerfileUtils!.validate(content).map((d) => `${name}:${d.range.start.line + 1}: ${d.message}`);
    expect(findings).toEqual([]);
  });

  it.skipIf(!dockerfilelint)("passes dockerfilelint, but for the findings accepted on purpose", () => {
    // A directory without a .dockerfilelintrc: the linter's own defaults.
    const untaggable = untaggableFromLines(content);
    const findings = dockerfilelint!
      .run(join(root, "tests/images"), content)
      .filter((f) => !(f.rule in ACCEPTED_DOCKERFILELINT_RULES))
      .filter((f) => !(f.rule === "missing_tag" && untaggable.has(f.line)))
      .map((f) => `${name}:${f.line}: ${f.rule}: ${f.description}`);
    expect(findings).toEqual([]);
  });
});
