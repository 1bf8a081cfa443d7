/**
 * The `fetch` handed to every @huggingface/hub call (the library takes a custom fetch). It is
 * the one place that:
 *  - adds the token as `Authorization: Bearer`, here rather than through the library's
 *    `accessToken` because the library rejects tokens without the `hf_` prefix (a mirror may issue
 *    other kinds) and because the resume requests made outside the library need the same header;
 *  - ties every request to the caller's AbortSignal (the library takes none);
 *  - validates, with zod, the hub answers whose values become cache paths (commit hashes,
 *    file paths, etags) before the library joins them onto the cache folder;
 *  - remembers `X-Error-Code` of failed responses, which the library's error drops;
 *  - counts body bytes of file downloads, for progress.
 */
import { z } from "zod";
import { COMMIT, ETAG, REPO_FILE_PATH } from "./cache-layout.ts";
import { InvalidHubResponseError } from "./errors.ts";

const treeEntrySchema = z.looseObject({
  type: z.string(),
  path: REPO_FILE_PATH,
  size: z.number().int().nonnegative(),
  oid: ETAG.optional(),
  lfs: z.looseObject({ oid: ETAG, size: z.number().int().nonnegative() }).optional(),
  xetHash: ETAG.optional(),
});
const listingSchema = z.array(treeEntrySchema);
const revisionInfoSchema = z.looseObject({ sha: COMMIT });

export type HubTreeEntry = z.infer<typeof treeEntrySchema>;

type Validated = "revision" | "listing";

function routeOf(url: string, method: string): Validated | "content" | "other" {
  let pathname: string;
  try {
    pathname = new URL(url).pathname;
  } catch {
    return "other";
  }
  if (/\/api\/models\/[^/]+\/[^/]+\/revision\//.test(pathname)) return "revision";
  if (/\/api\/models\/[^/]+\/[^/]+\/(tree|paths-info)\//.test(pathname)) return "listing";
  if (method === "GET" && !pathname.includes("/api/")) return "content";
  return "other";
}

export interface HubFetchOptions {
  token?: string;
  /** The hub the token belongs to: only requests to its origin carry the token. */
  hubUrl: string;
  signal?: AbortSignal;
  /** Called with the size of each chunk of a file download body as it arrives. */
  onBodyBytes?: (bytes: number) => void;
  base?: typeof fetch;
}

export interface HubFetch {
  fetch: typeof fetch;
  /** The same fetch, with file body bytes also reported to `onBodyBytes` (one file's attempt). */
  withBodyCounter(onBodyBytes: (bytes: number) => void): typeof fetch;
  /** `X-Error-Code` of the last failed response for `url` (request or final URL). */
  errorCodeFor(url: string): string | undefined;
}

function withUrl(response: Response, url: string): Response {
  Object.defineProperty(response, "url", { value: url });
  return response;
}

export function createHubFetch(options: HubFetchOptions): HubFetch {
  const base = options.base ?? fetch;
  const errorCodes = new Map<string, string>();
  const hubOrigin = new URL(options.hubUrl).origin;

  const make = (extraCounter?: (bytes: number) => void) => async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    // The token is for the hub alone: files the library fetches from other hosts (a CDN,
    // presigned storage URLs) must not receive it.
    if (options.token && new URL(url).origin === hubOrigin && !headers.has("authorization")) headers.set("authorization", `Bearer ${options.token}`);
    const signals = [init?.signal, options.signal].filter((x): x is AbortSignal => x instanceof AbortSignal);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    signal?.throwIfAborted();

    // undici's own abort, when it lands after a body is fully received but before it closes,
    // can leave a piped body neither closed nor errored (the download then never settles).
    // So the signal aborts the request only until the response arrives; after that it errors
    // the body stream wrapped below, which cancels the connection underneath.
    const requestAbort = new AbortController();
    let bodyController: TransformStreamDefaultController<Uint8Array> | undefined;
    let responded = false;
    const onAbort = (): void => {
      const reason = signal?.reason instanceof Error ? signal.reason : new DOMException("This operation was aborted", "AbortError");
      if (responded && bodyController) bodyController.error(reason);
      else requestAbort.abort(reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const release = (): void => signal?.removeEventListener("abort", onAbort);

    let response: Response;
    try {
      response = await base(input, { ...init, method, headers, signal: requestAbort.signal });
    } catch (err) {
      release();
      throw err;
    }
    responded = true;

    if (!response.ok) {
      const code = response.headers.get("x-error-code");
      if (code) {
        errorCodes.set(url, code);
        if (response.url) errorCodes.set(response.url, code);
      }
      return response;
    }

    const route = routeOf(url, method);
    if (route === "revision" || route === "listing") {
      const text = await response.text();
      release();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new InvalidHubResponseError(`the hub answered ${new URL(url).pathname} with invalid JSON`);
      }
      const parsed = (route === "revision" ? revisionInfoSchema : listingSchema).safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new InvalidHubResponseError(
          `the hub answered ${new URL(url).pathname} with data Ferry refuses (${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "invalid"})`,
        );
      }
      const headersOut = new Headers(response.headers);
      headersOut.delete("content-encoding");
      headersOut.delete("content-length");
      return withUrl(new Response(text, { status: response.status, statusText: response.statusText, headers: headersOut }), response.url);
    }

    const probe = headers.get("range") === "bytes=0-0";
    const counters = [options.onBodyBytes, extraCounter].filter((f): f is (bytes: number) => void => f !== undefined);
    if (route === "content" && !probe && response.body) {
      const counted = response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          start(controller) {
            bodyController = controller;
          },
          flush() {
            release();
          },
          transform(chunk, controller) {
            for (const count of counters) count(chunk.byteLength);
            controller.enqueue(chunk);
          },
        }),
      );
      return withUrl(new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers }), response.url);
    }
    return response;
  };

  return {
    fetch: make() as typeof fetch,
    withBodyCounter: (onBodyBytes) => make(onBodyBytes) as typeof fetch,
    errorCodeFor: (url) => errorCodes.get(url),
  };
}
