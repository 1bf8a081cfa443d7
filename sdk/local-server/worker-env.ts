/**
 * The environment a worker process starts with: the server's own environment without any
 * RunPod identity of the user's shell, the C library's settings for large values
 * (`protocol/malloc-env.ts`), the endpoint template's variables, the RunPod variables of the
 * identity the server issued to this worker, and where the server keeps its blobs.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import type { EndpointConfig } from "./endpoint-registry.ts";
import { runpodWorkerVariables, type IssuedWorker } from "./worker-identity.ts";
import { LOCAL_BLOB_DIR_ENV, LOCAL_BLOB_URL_ENV, type LocalBlobFolder } from "../../protocol/blob-ref.ts";
import { largeValueMallocEnv } from "../../protocol/malloc-env.ts";

/** Variables describing a RunPod identity: the server sets its own, never the user's shell's. */
const RUNPOD_IDENTITY_VARS = [
  "RUNPOD_API_KEY",
  "RUNPOD_AI_API_KEY",
  "RUNPOD_WEBHOOK_GET_JOB",
  "RUNPOD_WEBHOOK_POST_OUTPUT",
  "RUNPOD_WEBHOOK_POST_STREAM",
  "RUNPOD_WEBHOOK_PING",
  "RUNPOD_POD_ID",
  "RUNPOD_ENDPOINT_ID",
  "RUNPOD_PING_INTERVAL",
  "RUNPOD_POD_HOSTNAME",
];

export interface WorkerEnvSources {
  /** The environment workers start from. */
  baseEnv: NodeJS.ProcessEnv;
  /** The server's base URL as workers reach it. */
  serverUrl: string;
  /** The endpoint's folder (its venv lives in it). */
  endpointDir: string;
  pingIntervalMs: number;
  blobFolder: LocalBlobFolder;
}


export function workerEnv(endpoint: EndpointConfig, worker: IssuedWorker, sources: WorkerEnvSources): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...sources.baseEnv };
  for (const name of RUNPOD_IDENTITY_VARS) delete base[name];
  const templateEnv = Object.fromEntries(endpoint.template.env.map((e) => [e.key, e.value]));
  return {
    ...base,
    ...largeValueMallocEnv(base),
    ...templateEnv,
    ...runpodWorkerVariables(sources.serverUrl, worker, sources.pingIntervalMs),
    RUNPOD_POD_HOSTNAME: hostname(),
    FERRY_VENV: join(sources.endpointDir, "venv"),
    FERRY_PARENT_PIPE_FD: "3",
    [LOCAL_BLOB_DIR_ENV]: sources.blobFolder.dir,
    [LOCAL_BLOB_URL_ENV]: sources.blobFolder.urlPrefix,
  };
}

/** Whether workers started before the change run a different setup than the endpoint now asks for. */
export function workerSetupChanged(previous: EndpointConfig, next: EndpointConfig): boolean {
  return JSON.stringify(previous.template.env) !== JSON.stringify(next.template.env) || previous.templateId !== next.templateId;
}
