/**
 * Paths of Python huggingface_hub's cache layout, and Ferry's record of complete snapshots.
 *
 *   <cache>/models--org--name/blobs/<etag>             file contents (`.incomplete` while downloading)
 *   <cache>/models--org--name/refs/<revision>          the commit hash a branch or tag pointed to
 *   <cache>/models--org--name/snapshots/<commit>/<f>   symlink to ../../blobs/<etag>
 *   <cache>/models--org--name/.ferry/<commit>.json     the file list of that commit (Ferry's)
 *   <cache>/.locks/models--org--name/<etag>.lock       held while one process writes that blob
 *
 * The layout has no notion of "this snapshot is complete": Python writes `refs/main` before
 * its files, and a filtered download holds only some files. So Ferry writes the commit's full
 * file listing next to it once every selected file is in place; the cached check reads that
 * listing and stats the files, with no network. Python's cache scanner looks only at `blobs`,
 * `refs` and `snapshots`, so the extra folder is invisible to it.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative, isAbsolute } from "node:path";
import { getRepoFolderName } from "@huggingface/hub";
import { z } from "zod";

const HEX = /^[0-9a-f]+$/;
export const ETAG = z.string().min(16).max(128).regex(HEX, "an etag must be a hex digest");
export const COMMIT = z.string().regex(/^[0-9a-f]{40}$/, "a commit must be 40 hex digits");

/** A repo-relative file path that cannot leave the snapshot folder. */
export const REPO_FILE_PATH = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (p) => !p.startsWith("/") && !p.includes("\\") && !p.includes("\0") && !/^[a-zA-Z]:/.test(p) && p.split("/").every((s) => s !== "" && s !== "." && s !== ".."),
    "unsafe file path",
  );

export const manifestFileSchema = z.object({ path: REPO_FILE_PATH, size: z.number().int().nonnegative(), etag: ETAG });
export type ManifestFile = z.infer<typeof manifestFileSchema>;

const manifestSchema = z.object({
  version: z.literal(1),
  repo: z.string(),
  commit: COMMIT,
  files: z.array(manifestFileSchema),
});
export type SnapshotManifest = z.infer<typeof manifestSchema>;

export function repoDir(cacheDir: string, repo: string): string {
  return join(cacheDir, getRepoFolderName({ type: "model", name: repo }));
}
export function refPath(cacheDir: string, repo: string, revision: string): string {
  return join(repoDir(cacheDir, repo), "refs", revision);
}
export function snapshotDir(cacheDir: string, repo: string, commit: string): string {
  return join(repoDir(cacheDir, repo), "snapshots", commit);
}
export function pointerPath(cacheDir: string, repo: string, commit: string, file: string): string {
  return join(snapshotDir(cacheDir, repo, commit), file);
}
export function blobPath(cacheDir: string, repo: string, etag: string): string {
  return join(repoDir(cacheDir, repo), "blobs", etag);
}
export function incompletePath(cacheDir: string, repo: string, etag: string): string {
  return `${blobPath(cacheDir, repo, etag)}.incomplete`;
}
/** Where Python's huggingface_hub locks a blob while downloading it; Ferry locks the same path. */
export function blobLockPath(cacheDir: string, repo: string, etag: string): string {
  return join(cacheDir, ".locks", getRepoFolderName({ type: "model", name: repo }), `${etag}.lock`);
}
export function manifestPath(cacheDir: string, repo: string, commit: string): string {
  return join(repoDir(cacheDir, repo), ".ferry", `${commit}.json`);
}

/** Defence in depth behind the validation: refuses any path that resolves outside `root`. */
export function assertInside(root: string, path: string): void {
  const rel = relative(root, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new Error(`refusing to write outside the hub cache: ${path}`);
  }
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export async function writeFileAtomic(path: string, content: string, tmpDir: string = dirname(path)): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, content);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Points `snapshots/<commit>/<file>` at its blob with a relative symlink, as huggingface_hub
 * does. The link is made under a temporary name and renamed over the pointer, so a process
 * linking the same file at the same moment never sees the name missing or fails on it.
 */
export async function linkPointer(pointer: string, blob: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const tmp = join(dirname(pointer), `.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await symlink(relative(dirname(pointer), blob), tmp);
    await rename(tmp, pointer);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function readManifest(cacheDir: string, repo: string, commit: string): Promise<SnapshotManifest | null> {
  let text: string;
  try {
    text = await readFile(manifestPath(cacheDir, repo, commit), "utf8");
  } catch {
    return null;
  }
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(text));
    return parsed.success && parsed.data.commit === commit && parsed.data.repo === repo ? parsed.data : null;
  } catch {
    return null;
  }
}

export async function writeManifest(cacheDir: string, manifest: SnapshotManifest): Promise<void> {
  await writeFileAtomic(manifestPath(cacheDir, manifest.repo, manifest.commit), JSON.stringify(manifest));
}

/** The commit a branch or tag pointed to when it was cached, or null. */
export async function readRef(cacheDir: string, repo: string, revision: string): Promise<string | null> {
  try {
    const text = (await readFile(refPath(cacheDir, repo, revision), "utf8")).trim();
    return COMMIT.safeParse(text).success ? text : null;
  } catch {
    return null;
  }
}

/** `refs/<revision>` holds the bare commit hash, no newline, as Python writes it. */
export async function writeRef(cacheDir: string, repo: string, revision: string, commit: string): Promise<void> {
  const path = refPath(cacheDir, repo, revision);
  assertInside(repoDir(cacheDir, repo), path);
  // The temporary file goes to Ferry's folder: Python reads every file under refs/ as a ref.
  await writeFileAtomic(path, commit, join(repoDir(cacheDir, repo), ".ferry"));
}
