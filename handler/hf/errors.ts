/**
 * `ModelDownloadError`: the one error cache-ahead throws, with the repo and a reason a caller
 * can branch on. The hub says why a request failed in the `X-Error-Code` header
 * (`RepoNotFound`, `GatedRepo`, `RevisionNotFound`, `EntryNotFound`); the status code is the
 * fallback when a mirror does not send it.
 */
import { HubApiError } from "@huggingface/hub";
import { redactSecrets } from "../../protocol/redaction.ts";
import { InvalidModelSpecError } from "./model-spec.ts";

export type ModelDownloadReason =
  | "invalid-model-id"
  | "invalid-options"
  | "repo-not-found"
  | "gated"
  | "unauthorized"
  | "revision-not-found"
  | "file-not-found"
  | "network"
  | "incomplete"
  | "invalid-response"
  | "hub-error"
  | "aborted"
  | "filesystem";

export class ModelDownloadError extends Error {
  override readonly name = "ModelDownloadError";
  readonly repo: string;
  readonly revision: string | undefined;
  readonly reason: ModelDownloadReason;
  /** HTTP status when the hub answered with an error. */
  readonly status: number | undefined;

  constructor(init: {
    repo: string;
    revision?: string;
    reason: ModelDownloadReason;
    detail: string;
    status?: number;
    cause?: unknown;
  }) {
    const at = init.revision ? `${init.repo}@${init.revision}` : init.repo;
    super(`${at}: ${init.reason}: ${redactSecrets(init.detail)}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.repo = init.repo;
    this.revision = init.revision;
    this.reason = init.reason;
    this.status = init.status;
  }

  /** Worth another attempt in the same call (the next attempt resumes partial files). */
  get transient(): boolean {
    if (this.reason === "network" || this.reason === "incomplete") return true;
    return this.reason === "hub-error" && this.status !== undefined && (this.status >= 500 || this.status === 429);
  }
}

/** A downloaded file whose size or digest is not what the hub listed. */
export class IncompleteFileError extends Error {
  override readonly name = "IncompleteFileError";
}

/** The hub answered with data that fails validation (an unsafe path, a malformed hash). */
export class InvalidHubResponseError extends Error {
  override readonly name = "InvalidHubResponseError";
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
]);
const NETWORK_MESSAGES = ["fetch failed", "terminated", "other side closed", "socket hang up", "premature close"];
const FILESYSTEM_CODES = new Set(["ENOSPC", "EACCES", "EPERM", "EROFS", "EDQUOT", "EMFILE", "EISDIR", "ENOTDIR"]);

function causeChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && out.length < 8) {
    out.push(current);
    current = typeof current === "object" ? (current as { cause?: unknown }).cause : undefined;
  }
  return out;
}

function codeOf(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

function messageOf(err: unknown): string {
  if (typeof err === "string") return err;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function isNetworkError(err: unknown): boolean {
  return causeChain(err).some((e) => {
    const code = codeOf(e);
    if (code && NETWORK_CODES.has(code)) return true;
    const message = messageOf(e).toLowerCase();
    return NETWORK_MESSAGES.some((m) => message.includes(m));
  });
}

function isAbort(err: unknown): boolean {
  return causeChain(err).some(
    (e) =>
      (typeof e === "object" && e !== null && ((e as Error).name === "AbortError" || (e as Error).name === "TimeoutError")) ||
      // The library passes on some aborts as the bare message string.
      (typeof e === "string" && e.includes("operation was aborted")),
  );
}

function statusOf(err: unknown): number | undefined {
  if (err instanceof HubApiError) return err.statusCode;
  const status = typeof err === "object" && err !== null ? (err as { statusCode?: unknown }).statusCode : undefined;
  return typeof status === "number" ? status : undefined;
}

export interface ErrorContext {
  repo: string;
  revision: string;
  tokenProvided: boolean;
  /** `X-Error-Code` the hub sent for a failed request to `url`, if any. */
  errorCodeFor?: (url: string) => string | undefined;
  signal?: AbortSignal;
}

/** Maps whatever the library, the network or the filesystem threw to a {@link ModelDownloadError}. */
export function toModelDownloadError(err: unknown, ctx: ErrorContext): ModelDownloadError {
  if (err instanceof ModelDownloadError) return err;
  const base = { repo: ctx.repo, revision: ctx.revision, cause: err };
  if (err instanceof InvalidModelSpecError) {
    return new ModelDownloadError({ ...base, reason: "invalid-model-id", detail: err.reason });
  }
  if (ctx.signal?.aborted || isAbort(err)) {
    return new ModelDownloadError({ ...base, reason: "aborted", detail: "the download was cancelled" });
  }
  const status = statusOf(err);
  if (status !== undefined) {
    const url = err instanceof HubApiError ? err.url : "";
    const code = ctx.errorCodeFor?.(url);
    return fromHttpStatus(status, code, { ...base, status }, ctx.tokenProvided);
  }
  if (err instanceof IncompleteFileError) return new ModelDownloadError({ ...base, reason: "incomplete", detail: err.message });
  if (err instanceof InvalidHubResponseError) {
    return new ModelDownloadError({ ...base, reason: "invalid-response", detail: err.message });
  }
  if (isNetworkError(err)) {
    const codes = causeChain(err).map(codeOf).filter(Boolean);
    const detail = `network failure talking to the hub (${codes[0] ?? messageOf(err)}); partial files are kept and resumed by the next attempt`;
    return new ModelDownloadError({ ...base, reason: "network", detail });
  }
  const fsCode = causeChain(err).map(codeOf).find((c) => c !== undefined && FILESYSTEM_CODES.has(c));
  if (fsCode) return new ModelDownloadError({ ...base, reason: "filesystem", detail: `cannot write the cache (${fsCode}): ${messageOf(err)}` });
  if (err instanceof TypeError && /filename|access token/i.test(err.message)) {
    return new ModelDownloadError({ ...base, reason: "invalid-response", detail: err.message });
  }
  return new ModelDownloadError({ ...base, reason: "hub-error", detail: messageOf(err) });
}

function fromHttpStatus(
  status: number,
  code: string | undefined,
  base: { repo: string; revision: string; cause: unknown; status: number },
  tokenProvided: boolean,
): ModelDownloadError {
  const tokenHint = tokenProvided
    ? "the HF_TOKEN given has no access to it; request access on the hub or use another token"
    : "set HF_TOKEN to a token with access to it";
  switch (code) {
    case "RepoNotFound":
      return new ModelDownloadError({
        ...base,
        reason: "repo-not-found",
        detail: `repository not found (HTTP ${status}); if it is private or gated, ${tokenHint}`,
      });
    case "GatedRepo":
      return new ModelDownloadError({ ...base, reason: "gated", detail: `gated repository (HTTP ${status}): ${tokenHint}` });
    case "RevisionNotFound":
      return new ModelDownloadError({ ...base, reason: "revision-not-found", detail: `revision "${base.revision}" not found (HTTP ${status})` });
    case "EntryNotFound":
      return new ModelDownloadError({ ...base, reason: "file-not-found", detail: `a listed file is missing on the hub (HTTP ${status})` });
    default:
      break;
  }
  if (status === 401 || status === 403) {
    return new ModelDownloadError({ ...base, reason: "unauthorized", detail: `access denied (HTTP ${status}): the repo is gated or private; ${tokenHint}` });
  }
  if (status === 404) {
    return new ModelDownloadError({ ...base, reason: "repo-not-found", detail: `not found (HTTP 404): no such repo or revision; if it is private or gated, ${tokenHint}` });
  }
  return new ModelDownloadError({ ...base, reason: "hub-error", detail: `the hub answered HTTP ${status}` });
}
