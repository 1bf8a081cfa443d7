/**
 * Model specs as callers write them: `org/name` or `org/name@revision`.
 *
 * The repo id and the revision both become parts of paths inside the hub cache
 * (`models--org--name`, `refs/<revision>`), so they are validated here, before any
 * network or filesystem work, and nothing that could name a path outside the cache passes.
 */
import { z } from "zod";

const REPO_ID = /^[\w.-]+\/[\w.-]+$/;
/** Branches, tags and `refs/pr/N`: path-like, but only plain segments. */
const REVISION = /^[\w.-]+(\/[\w.-]+)*$/;
export const COMMIT_HASH = /^[0-9a-f]{40}$/;
export const DEFAULT_REVISION = "main";

export interface ModelSpec {
  /** `org/name`. */
  repo: string;
  /** What the caller asked for: a branch, a tag or a commit hash; `main` when not given. */
  revision: string;
  /** True when the caller named no revision (the cache may answer for `main` without asking the hub). */
  revisionDefaulted: boolean;
  /** The revision is a full commit hash, so its snapshot can never change. */
  pinned: boolean;
}

export class InvalidModelSpecError extends Error {
  override readonly name = "InvalidModelSpecError";
  constructor(
    readonly spec: string,
    readonly reason: string,
  ) {
    super(`invalid Hugging Face model "${spec}": ${reason}`);
  }
}

const specInput = z.string().trim().min(1, "empty model id").max(512, "model id too long");

function hasDotDotSegment(text: string): boolean {
  return text.split("/").some((segment) => segment === "." || segment === "..");
}

/** Parses `org/name[@revision]`; throws {@link InvalidModelSpecError}. */
export function parseModelSpec(raw: unknown): ModelSpec {
  const parsed = specInput.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidModelSpecError(String(raw), parsed.error.issues[0]?.message ?? "not a string");
  }
  const text = parsed.data;
  const at = text.indexOf("@");
  const repo = at === -1 ? text : text.slice(0, at);
  const revisionText = at === -1 ? undefined : text.slice(at + 1);

  if (!REPO_ID.test(repo)) {
    throw new InvalidModelSpecError(text, "the repo id must look like org/name (letters, digits, '_', '.', '-')");
  }
  if (repo.includes("..") || hasDotDotSegment(repo)) {
    throw new InvalidModelSpecError(text, "the repo id must not contain '..' or '.' segments");
  }
  if (revisionText !== undefined) {
    if (revisionText.length === 0) throw new InvalidModelSpecError(text, "empty revision after '@'");
    if (revisionText.length > 255) throw new InvalidModelSpecError(text, "revision too long");
    if (!REVISION.test(revisionText) || hasDotDotSegment(revisionText) || revisionText.includes("..")) {
      throw new InvalidModelSpecError(text, "the revision must be a branch, tag or commit hash without '..'");
    }
  }
  const revision = revisionText ?? DEFAULT_REVISION;
  return { repo, revision, revisionDefaulted: revisionText === undefined, pinned: COMMIT_HASH.test(revision) };
}

/** The spec written back in its canonical form, for logs and reports. */
export function formatModelSpec(spec: ModelSpec): string {
  return spec.revisionDefaulted ? spec.repo : `${spec.repo}@${spec.revision}`;
}
