/**
 * HTTP helpers of the local server's route modules: the shared plumbing of `protocol/` (errors,
 * bounded bodies, JSON), plus what only this server needs: the API key check RunPod applies
 * ("Bearer <key>" or the raw key), long-poll disconnects and clamped query numbers.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "../../protocol/http-server.ts";

export { HttpError, parseJsonBody, readBody, sendEmpty, sendError, sendJson, validate } from "../../protocol/http-server.ts";
export { MiB } from "../../protocol/runpod-jobs.ts";

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The key in `Authorization`, as "Bearer <key>" or raw (RunPod's workers send it raw). */
export function presentedKey(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== "string" || header === "") return undefined;
  return header.replace(/^bearer\s+/i, "").trim();
}

/** True when `req` carries one of `keys` (see presentedKey). With no keys configured every request passes. */
export function isAuthorized(req: IncomingMessage, keys: readonly string[]): boolean {
  return keyAccepted(presentedKey(req), keys);
}

/** Whether `presented` opens a server that has `keys` (any key, when it has none). */
export function keyAccepted(presented: string | undefined, keys: readonly string[]): boolean {
  if (keys.length === 0) return true;
  return presented !== undefined && keys.some((key) => sameSecret(presented, key));
}

/** Calls `onGone` when the client of a held (long-poll) request goes away before the answer. */
export function onClientGone(res: ServerResponse, onGone: () => void): () => void {
  const listener = () => {
    if (!res.writableFinished) onGone();
  };
  res.on("close", listener);
  return () => res.off("close", listener);
}

/** Reads a numeric query parameter clamped into [min, max], or `fallback` when absent. */
export function queryNumber(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new HttpError(400, `query parameter ${name} must be a number, got ${JSON.stringify(raw)}`);
  return Math.min(max, Math.max(min, Math.round(value)));
}
