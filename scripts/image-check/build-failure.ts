/**
 * Names the Dockerfile line of a failed `buildah bud`. buildah prints each step as
 * `[stage/stages] STEP k/n: TEXT` (no `[...]` for a one-stage file) and ends a failure with
 * `building at STEP "TEXT": reason`; step 1 of a stage is its FROM, so step k is the stage's
 * (k-1)-th instruction after FROM.
 */
import { parseDockerfile } from "../../tests/images/dockerfile-parse.ts";

export interface BuildFailure {
  /** 1-based line of the failed instruction in the Dockerfile. */
  line: number;
  /** The instruction as buildah printed it. */
  step: string;
  reason: string;
}

const STEP_LINE = /^(?:\[(\d+)\/\d+\] )?STEP (\d+)\/\d+: (.*)$/;
const FAILED_AT = /building at STEP "(.*?)": (.*)$/;

export function locateBuildFailure(dockerfileText: string, buildOutput: string): BuildFailure | undefined {
  const lines = buildOutput.split(/\r?\n/);
  const failure = lines.map((l) => FAILED_AT.exec(l)).find((m) => m !== null);
  if (!failure) return undefined;
  const step = failure[1] ?? "";
  const reason = failure[2] ?? "";
  // The last announced step with that text (stages may run interleaved, each step is announced once).
  const announced = lines
    .map((l) => STEP_LINE.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && m[3] === step)
    .at(-1);
  if (!announced) return undefined;
  const stageIndex = Number(announced[1] ?? "1") - 1;
  const stepIndex = Number(announced[2]);
  const stage = parseDockerfile(dockerfileText).stages[stageIndex];
  if (!stage) return undefined;
  const fromLine = stage.fromLine;
  const line = stepIndex === 1 ? fromLine : stage.instructions[stepIndex - 2]?.line;
  return line === undefined ? undefined : { line, step, reason };
}
