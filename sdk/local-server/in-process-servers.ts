/**
 * The local servers running in this process, by endpoint base URL (`<url>/v2`). A caller in the
 * same process as its server reaches the server's blob files directly instead of sending each
 * value over loopback HTTP to its own event loop (sdk/blobs/in-process-blob-store.ts). Kept in
 * this module, not on globalThis: a second copy of the SDK loaded in the process sees no servers
 * and uses HTTP, which always works.
 */
import type { BlobFiles } from "./blob-files.ts";

export interface InProcessServer {
  blobs: BlobFiles;
  /** Whether a caller with this API key may use the server's caller routes (the HTTP path's 401 otherwise). */
  accepts(apiKey: string | undefined): boolean;
}

const servers = new Map<string, InProcessServer>();

function normalized(endpointBaseUrl: string): string {
  return endpointBaseUrl.replace(/\/+$/, "");
}

/** Registers a listening server; the answer removes it (call it when the server closes). */
export function registerInProcessServer(endpointBaseUrl: string, server: InProcessServer): () => void {
  const key = normalized(endpointBaseUrl);
  servers.set(key, server);
  return () => {
    if (servers.get(key) === server) servers.delete(key);
  };
}

/** The server in this process whose endpoint base URL this is, if there is one. */
export function inProcessServer(endpointBaseUrl: string): InProcessServer | undefined {
  return servers.get(normalized(endpointBaseUrl));
}
