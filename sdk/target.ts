/**
 * Where calls go: RunPod Serverless when a RunPod API key is found (RUNPOD_API_KEY, else
 * `~/.runpod/config.toml`, see credentials.ts), else the local endpoint server
 * (the same endpoint API and GraphQL, on this machine). FERRY_TARGET=local|runpod forces one.
 *
 * The local server is the one `.ferry/local.json` names (written by `ferry serve`) when it
 * answers, else one started in this process.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { findRunpodApiKey } from "./credentials.ts";
import { ConfigError } from "./errors.ts";

export const RUNPOD_ENDPOINT_BASE_URL = "https://api.runpod.ai/v2";
export const RUNPOD_GRAPHQL_URL = "https://api.runpod.io/graphql";

export type TargetKind = "local" | "runpod";

export interface TargetSettings {
  /** Forces the target; default from FERRY_TARGET, else RunPod when a key is set. */
  target?: TargetKind | undefined;
  /** RunPod API key; default RUNPOD_API_KEY, else `api_key` in `~/.runpod/config.toml` (`runpod config` writes it). */
  apiKey?: string | undefined;
  /** Endpoint API base; default RUNPOD_ENDPOINT_BASE_URL, else RunPod's (`https://api.runpod.ai/v2`). */
  endpointBaseUrl?: string | undefined;
  /** GraphQL URL; default RUNPOD_GRAPHQL_URL, else `${RUNPOD_API_BASE_URL}/graphql`, else RunPod's. */
  graphqlUrl?: string | undefined;
  /** A running local server to use (its base URL); default the one `.ferry/local.json` names. */
  localUrl?: string | undefined;
  /** Key the local server wants, when it was started with one; default FERRY_LOCAL_API_KEY. */
  localApiKey?: string | undefined;
  /** Where `.ferry` state lives; default FERRY_STATE_DIR, else `<cwd>/.ferry`. */
  stateDir?: string | undefined;
}

export interface RunpodTarget {
  kind: "runpod";
  apiKey: string;
  /** "RUNPOD_API_KEY environment variable", "configure({ apiKey })": said when the key is refused. */
  keySource: string;
  endpointBaseUrl: string;
  graphqlUrl: string;
  stateDir: string;
}

export interface LocalTarget {
  kind: "local";
  /** Set when a server was named (option, env or `.ferry/local.json`); else one is started here. */
  url: string | undefined;
  apiKey: string | undefined;
  keySource: string;
  stateDir: string;
}

export type TargetSpec = RunpodTarget | LocalTarget;

const LocalFileSchema = z.object({ url: z.string().url() }).passthrough();

/** `.ferry/local.json`, when it exists and names a URL. */
function readLocalServerFile(stateDir: string): string | undefined {
  const file = join(stateDir, "local.json");
  if (!existsSync(file)) return undefined;
  try {
    const parsed = LocalFileSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    return parsed.success ? parsed.data.url.replace(/\/+$/, "") : undefined;
  } catch {
    return undefined;
  }
}

export function resolveTarget(settings: TargetSettings = {}, env: NodeJS.ProcessEnv = process.env): TargetSpec {
  const stateDir = resolve(settings.stateDir ?? env.FERRY_STATE_DIR ?? join(process.cwd(), ".ferry"));
  const forced = settings.target ?? (env.FERRY_TARGET ? env.FERRY_TARGET.trim().toLowerCase() : undefined);
  if (forced !== undefined && forced !== "local" && forced !== "runpod") throw new ConfigError(`FERRY_TARGET must be "local" or "runpod", got "${forced}"`);
  const found = settings.apiKey !== undefined ? { apiKey: settings.apiKey, source: "configure({ apiKey })" } : findRunpodApiKey(env);
  const apiKey = found?.apiKey;
  const keySource = found?.source ?? "the RUNPOD_API_KEY environment variable";
  const kind: TargetKind = forced ?? (apiKey ? "runpod" : "local");
  if (kind === "runpod") {
    if (!apiKey) throw new ConfigError("FERRY_TARGET=runpod needs an API key: set RUNPOD_API_KEY (RunPod console -> Settings -> API Keys)");
    return {
      kind,
      apiKey,
      keySource,
      // The variable names and meanings of RunPod's own SDKs: RUNPOD_API_BASE_URL is the
      // management API's root (GraphQL under it), RUNPOD_ENDPOINT_BASE_URL the endpoint API.
      endpointBaseUrl: (settings.endpointBaseUrl ?? env.RUNPOD_ENDPOINT_BASE_URL ?? RUNPOD_ENDPOINT_BASE_URL).replace(/\/+$/, ""),
      graphqlUrl: settings.graphqlUrl ?? env.RUNPOD_GRAPHQL_URL ?? (env.RUNPOD_API_BASE_URL ? `${env.RUNPOD_API_BASE_URL.replace(/\/+$/, "")}/graphql` : RUNPOD_GRAPHQL_URL),
      stateDir,
    };
  }
  const localApiKey = settings.localApiKey ?? env.FERRY_LOCAL_API_KEY;
  return {
    kind: "local",
    url: (settings.localUrl ?? env.FERRY_LOCAL_URL ?? readLocalServerFile(stateDir))?.replace(/\/+$/, ""),
    apiKey: localApiKey,
    keySource: settings.localApiKey !== undefined ? "configure({ localApiKey })" : localApiKey ? "the FERRY_LOCAL_API_KEY environment variable" : "no key (local server)",
    stateDir,
  };
}

/** Whether a Ferry local server answers at `url` (its root route names itself). */
export async function probeLocalServer(url: string, fetchImpl: typeof fetch = fetch): Promise<boolean> {
  try {
    const response = await fetchImpl(`${url}/`, { signal: AbortSignal.timeout(1500) });
    if (!response.ok) return false;
    const body = (await response.json()) as { server?: unknown };
    return body.server === "ferry-local-runpod";
  } catch {
    return false;
  }
}

export function localNotice(url: string, startedHere: boolean): string {
  const where = startedHere ? `a local endpoint server started in this process (${url}, its dashboard at ${url}/; \`await shutdown()\` stops it, \`npx ferry serve\` keeps one running)` : `the local endpoint server at ${url}`;
  return `ferry: RUNPOD_API_KEY is not set, so calls run on ${where}. Set RUNPOD_API_KEY to run on RunPod Serverless; \`npx ferry deploy <file.ts>\` provisions a module's endpoints ahead of time.`;
}
