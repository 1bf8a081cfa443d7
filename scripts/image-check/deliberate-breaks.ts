/**
 * A test of the check itself: copies of a Dockerfile with one instruction broken on purpose (a
 * COPY of a path that does not exist, a RUN that fails), each of which must fail to build with
 * that instruction's line named. The breaks go into the first stage built, before `npm ci`, so
 * each fails within seconds. Nothing is left in the real Dockerfiles.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDockerfile } from "../../tests/images/dockerfile-parse.ts";
import { buildImage } from "./build-image.ts";
import type { Buildah } from "./buildah.ts";

export interface BreakResult {
  what: string;
  ok: boolean;
  detail: string;
}

const BREAKS = [
  { what: "a COPY of a path that does not exist", instruction: "COPY images/no-such-file.txt ./" },
  { what: "a RUN that fails", instruction: "RUN test -e /src/no-such-file" },
];

/** The Dockerfile with `instruction` inserted after the build stage's WORKDIR; returns text and line. */
export function insertIntoBuildStage(text: string, instruction: string): { text: string; line: number } {
  const build = parseDockerfile(text).stages.find((s) => s.name === "build");
  const workdir = build?.instructions.find((i) => i.keyword === "WORKDIR");
  if (!workdir) throw new Error("the Dockerfile has no build stage with a WORKDIR to break after");
  const lines = text.split("\n");
  lines.splice(workdir.line, 0, instruction);
  return { text: lines.join("\n"), line: workdir.line + 1 };
}

export async function checkDeliberateBreaks(buildah: Buildah, repoRoot: string, dockerfile: string, workDir: string, buildArgs: Record<string, string>): Promise<BreakResult[]> {
  const dir = join(workDir, "breaks");
  mkdirSync(dir, { recursive: true });
  const original = readFileSync(join(repoRoot, dockerfile), "utf8");
  const results: BreakResult[] = [];
  for (const [i, brk] of BREAKS.entries()) {
    const broken = insertIntoBuildStage(original, brk.instruction);
    const file = join(dir, `${dockerfile}.break-${i + 1}`);
    writeFileSync(file, broken.text);
    const outcome = await buildImage(buildah, { repoRoot, dockerfile: file, tag: `localhost/ferry-image-check-break:${i + 1}`, buildArgs });
    if (outcome.ok) {
      results.push({ what: brk.what, ok: false, detail: "the build succeeded" });
    } else if (!outcome.failure) {
      results.push({ what: brk.what, ok: false, detail: "failed, but no line was named" });
    } else {
      const named = outcome.failure.line === broken.line;
      results.push({ what: brk.what, ok: named, detail: `${outcome.failure.file}:${outcome.failure.line}: ${outcome.failure.step} (inserted at line ${broken.line})` });
    }
  }
  return results;
}
