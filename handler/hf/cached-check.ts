/**
 * Is a model's snapshot already complete in the cache? Answered from the disk alone: the ref
 * (for a branch or tag), Ferry's listing of the commit, and one stat per selected file.
 *
 * A branch such as `main` is taken at the commit it pointed to when it was cached: the hub
 * is not asked whether the branch moved since (that is the point: no network, a few ms).
 * Pin a commit (`org/name@<sha>`) or clear the cache to pick up a newer one.
 */
import { stat } from "node:fs/promises";
import { readManifest, readRef, pointerPath, snapshotDir, type ManifestFile } from "./cache-layout.ts";
import type { ModelSpec } from "./model-spec.ts";

export interface CachedSnapshot {
  commit: string;
  snapshotPath: string;
  /** The files the request selects, all present with the listed size. */
  files: ManifestFile[];
  bytes: number;
  /** "pinned": the request named this commit; "ref": a branch or tag resolved from `refs/`. */
  resolvedBy: "pinned" | "ref";
}

export async function findCachedSnapshot(
  cacheDir: string,
  spec: ModelSpec,
  select: (path: string) => boolean,
): Promise<CachedSnapshot | null> {
  const commit = spec.pinned ? spec.revision : await readRef(cacheDir, spec.repo, spec.revision);
  if (!commit) return null;
  const manifest = await readManifest(cacheDir, spec.repo, commit);
  if (!manifest) return null;
  const files = manifest.files.filter((f) => select(f.path));
  const present = await Promise.all(
    files.map(async (f) => {
      try {
        // stat follows the snapshot symlink: a dangling link (blob deleted) is not present.
        const s = await stat(pointerPath(cacheDir, spec.repo, commit, f.path));
        return s.isFile() && s.size === f.size;
      } catch {
        return false;
      }
    }),
  );
  if (!present.every(Boolean)) return null;
  return {
    commit,
    snapshotPath: snapshotDir(cacheDir, spec.repo, commit),
    files,
    bytes: files.reduce((sum, f) => sum + f.size, 0),
    resolvedBy: spec.pinned ? "pinned" : "ref",
  };
}
