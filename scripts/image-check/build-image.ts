/**
 * `buildah bud` of one Dockerfile with the repository as context, as `docker build` would run
 * it: chroot isolation, vfs storage, no pulls (the bases are the local stand-ins). A failure
 * comes back with the Dockerfile's line named. No --force-rm: after a failed build it removes
 * the stage images it made, and for a stage that is only a FROM that image is the base itself
 * (it deleted the node stand-in); leftovers are removed by Buildah.tidy instead.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { locateBuildFailure, type BuildFailure } from "./build-failure.ts";
import type { Buildah } from "./buildah.ts";

export interface BuildOutcome {
  ok: boolean;
  ms: number;
  failure?: BuildFailure & { file: string };
  /** The build's last output lines, for a failure no line could be named for. */
  tail: string;
}

export interface BuildRequest {
  repoRoot: string;
  /** Path of the Dockerfile (absolute, or relative to repoRoot). */
  dockerfile: string;
  tag: string;
  buildArgs: Record<string, string>;
}

export async function buildImage(buildah: Buildah, request: BuildRequest): Promise<BuildOutcome> {
  const args = Object.entries(request.buildArgs).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
  const started = performance.now();
  const result = await buildah.run(["bud", "--isolation", "chroot", "--pull=never", "--layers=false", ...args, "-f", request.dockerfile, "-t", request.tag, request.repoRoot], `building ${request.dockerfile}`, {
    cwd: request.repoRoot,
    allowFailure: true,
    timeoutMs: 40 * 60_000,
  });
  const ms = performance.now() - started;
  const tail = result.all.trimEnd().split("\n").slice(-15).join("\n");
  if (result.exitCode === 0) return { ok: true, ms, tail };
  const dockerfilePath = request.dockerfile.startsWith("/") ? request.dockerfile : `${request.repoRoot}/${request.dockerfile}`;
  const located = locateBuildFailure(readFileSync(dockerfilePath, "utf8"), result.all);
  return { ok: false, ms, tail, ...(located ? { failure: { ...located, file: relative(request.repoRoot, dockerfilePath) } } : {}) };
}
