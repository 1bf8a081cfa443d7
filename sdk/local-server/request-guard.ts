/**
 * What the local server checks before it routes a request, against web pages that can reach
 * a server on the user's own machine:
 *
 * - DNS rebinding: a page on `attacker.example` whose name later resolves to 127.0.0.1 sends
 *   requests with `Host: attacker.example`. Only loopback names, the bound address and names
 *   the server was told about are answered.
 * - Cross-site requests: a browser sends `Origin` with every cross-origin POST; a request from
 *   any other origin is refused. A page can also send a "simple" POST (text/plain, a form)
 *   without a preflight, so client and GraphQL bodies must be `application/json`.
 * - A server reachable from other machines always wants a key (checked at start).
 */
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { HttpError } from "./http-util.ts";

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/** `localhost`, `127.0.0.0/8` and `::1`: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (LOOPBACK_NAMES.has(name) || name.endsWith(".localhost")) return true;
  return isIP(name) === 4 && name.startsWith("127.");
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** The server refuses to start reachable from other machines with no key. */
export function keyProblemForBind(host: string, apiKey: string | undefined): string | undefined {
  if (apiKey || isLoopbackHost(host)) return undefined;
  return `the local server binds ${host}, which other machines can reach: set an API key (--api-key or FERRY_LOCAL_API_KEY) or bind 127.0.0.1`;
}

/** The host name of a `Host` header or an origin, lowercased, without port or IPv6 brackets. */
function hostName(value: string): string | undefined {
  try {
    return new URL(value.includes("://") ? value : `http://${value}`).hostname.toLowerCase().replace(/^\[|\]$/g, "");
  } catch {
    return undefined;
  }
}

export interface RequestGuardOptions {
  /** The address the server is bound to. */
  host: string;
  /** More names the server answers to (a name in /etc/hosts, a tunnel). */
  allowedHosts?: readonly string[];
}

export class RequestGuard {
  private readonly names: Set<string>;
  private readonly anyHost: boolean;

  constructor(options: RequestGuardOptions) {
    const bound = options.host.toLowerCase().replace(/^\[|\]$/g, "");
    this.names = new Set([...LOOPBACK_NAMES, bound, ...(options.allowedHosts ?? []).map((h) => h.toLowerCase())]);
    // Bound to every address, the server is reached by names it cannot list; it has a key then.
    this.anyHost = isWildcard(options.host);
  }

  private allowed(name: string | undefined): boolean {
    if (name === undefined) return false;
    return this.anyHost || this.names.has(name) || isLoopbackHost(name);
  }

  /** Refuses a request from a foreign `Host` or `Origin` (403). */
  checkSource(req: IncomingMessage): void {
    const host = req.headers.host;
    if (host !== undefined && !this.allowed(hostName(host))) {
      throw new HttpError(403, `Host ${JSON.stringify(host)} is not a name of this server (a DNS rebinding page?); allowed: loopback names and the bound address`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.allowed(origin === "null" ? undefined : hostName(origin))) {
      throw new HttpError(403, `requests from origin ${JSON.stringify(origin)} are refused: the local server only answers programs, not other web sites`);
    }
  }
}

/** A request that carries a body must label it JSON (415 otherwise): a browser cannot send that cross-site without asking first. */
export function requireJsonBody(req: IncomingMessage): void {
  const hasBody = Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
  if (!hasBody) return;
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/json" || /^application\/[a-z0-9.+-]+\+json$/.test(type)) return;
  throw new HttpError(415, `request bodies must be application/json, got ${type ? JSON.stringify(type) : "no content type"}`);
}

/** Path segments decoded, answering 400 (not 500) for a malformed `%` escape. */
export function decodePathSegments(pathname: string): string[] {
  return pathname
    .split("/")
    .filter(Boolean)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new HttpError(400, `malformed %-escape in the URL path segment ${JSON.stringify(segment)}`);
      }
    });
}

/** Deepest nesting of `{ ( [` in a GraphQL document, outside strings and comments; counted without recursion. */
export function documentDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === '"') {
      const block = text.startsWith('"""', i);
      const end = block ? text.indexOf('"""', i + 3) : findStringEnd(text, i + 1);
      i = end < 0 ? text.length : end + (block ? 2 : 0);
    } else if (c === "{" || c === "(" || c === "[") {
      depth++;
      if (depth > max) max = depth;
    } else if (c === "}" || c === ")" || c === "]") {
      depth--;
    }
  }
  return max;
}

function findStringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"' || text[i] === "\n") return i;
  }
  return -1;
}

/** RunPod's clients nest about 5 levels; far below what a recursive parser can take. */
export const MAX_DOCUMENT_DEPTH = 64;

export function refuseDeepDocument(query: string): void {
  const depth = documentDepth(query);
  if (depth > MAX_DOCUMENT_DEPTH) throw new HttpError(400, `the GraphQL document nests ${depth} levels deep; at most ${MAX_DOCUMENT_DEPTH} are accepted`);
}

/**
 * Job inputs nest at most this deep. Deeper ones parse, but no worker could be handed them:
 * JSON.stringify recurses and runs out of stack at a few thousand levels.
 */
export const MAX_INPUT_DEPTH = 1000;

/** Nesting depth of a parsed JSON value, counted without recursion, stopping once past `limit`. */
export function jsonDepth(value: unknown, limit = Infinity): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== "object") continue;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(item) ? item : Object.values(item)) if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
  }
  return max;
}

export function refuseDeepInput(input: unknown): void {
  const depth = jsonDepth(input, MAX_INPUT_DEPTH);
  if (depth > MAX_INPUT_DEPTH) throw new HttpError(400, `input nests more than ${MAX_INPUT_DEPTH} levels deep; no worker could be handed it`);
}
