/** Shared pieces of the local-server suites: a server in a temp state dir, HTTP and GraphQL calls. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalServer, type LocalServer, type LocalServerOptions } from "../../sdk/local-server/server.ts";
import { processAlive } from "../../protocol/process-alive.ts";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, "..", "..");
/** The protocol-speaking test worker, run by this Node with tsx's loader. */
export const PROTOCOL_WORKER = [process.execPath, "--import", "tsx", join(here, "fixtures", "protocol-worker.ts")];

export interface TestServer {
  server: LocalServer;
  stateDir: string;
  call: (path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }) => Promise<{ status: number; body: any }>;
  gql: (query: string, variables?: Record<string, unknown>) => Promise<any>;
  close: () => Promise<void>;
}

export async function startTestServer(options: LocalServerOptions = {}): Promise<TestServer> {
  const stateDir = mkdtempSync(join(tmpdir(), "ferry-local-"));
  const server = await startLocalServer({ stateDir, cwd: REPO_ROOT, workerCommand: PROTOCOL_WORKER, ...options });
  const call: TestServer["call"] = async (path, init = {}) => {
    const res = await fetch(server.url + path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers: { "content-type": "application/json", ...init.headers },
      body: init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const gql: TestServer["gql"] = async (query, variables) => (await call("/graphql", { body: { query, variables } })).body;
  return {
    server,
    stateDir,
    call,
    gql,
    close: async () => {
      await server.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a truthy value (test-side only; the product never polls). */
export async function waitUntil<T>(check: () => T | Promise<T>, timeoutMs: number, what: string, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const SAVE_ENDPOINT = `mutation saveEndpoint($input: EndpointInput!) {
  saveEndpoint(input: $input) {
    id name templateId gpuIds gpuCount workersMin workersMax idleTimeout
    scalerType scalerValue executionTimeoutMs networkVolumeId locations
    allowedCudaVersions instanceIds type version
  }
}`;

export function endpointInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "test-endpoint",
    gpuIds: "AMPERE_16",
    workersMin: 0,
    workersMax: 0,
    idleTimeout: 5,
    template: { name: "test-template", imageName: "ferry/worker:local", env: [] },
    ...overrides,
  };
}

/**
 * Whether a process is gone: no such pid, or a zombie (killed, waiting for a parent that may
 * never reap it; some containers' init does not).
 */
export function processGone(pid: number): boolean {
  return !processAlive(pid);
}
