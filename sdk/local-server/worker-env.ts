/**
 * The environment a worker process starts with: the server's own environment without any
 * RunPod identity of the user's shell, the endpoint template's variables, and the RunPod
 * variables of the identity the server issued to this worker.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import type { EndpointConfig } from "./endpoint-registry.ts";
import { runpodWorkerVariables, type IssuedWorker } from "./worker-identity.ts";

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
}

/**
 * glibc's tunable that has malloc ask for transparent huge pages (madvise) on what it maps:
 * a large value's buffers (the fetched blob in Node, the frame and the array in Python) are
 * then faulted in 2 MB at a time rather than 4 KB. Where first touching memory is slow (page
 * faults in a VM), a 64 MB buffer costs about 20 ms this way instead of about 300 ms. Ignored
 * by a C library without the tunable, and by kernels with huge pages off.
 */
export const HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1";

/** GLIBC_TUNABLES with the huge page tunable added, unless the environment already sets hugetlb. */
export function withHugePageTunable(current: string | undefined): string {
  if (!current) return HUGE_PAGE_TUNABLE;
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(current)) return current;
  return `${current}:${HUGE_PAGE_TUNABLE}`;
}

export function workerEnv(endpoint: EndpointConfig, worker: IssuedWorker, sources: WorkerEnvSources): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...sources.baseEnv };
  for (const name of RUNPOD_IDENTITY_VARS) delete base[name];
  const templateEnv = Object.fromEntries(endpoint.template.env.map((e) => [e.key, e.value]));
  return {
    ...base,
    GLIBC_TUNABLES: withHugePageTunable(base.GLIBC_TUNABLES),
    ...templateEnv,
    ...runpodWorkerVariables(sources.serverUrl, worker, sources.pingIntervalMs),
    RUNPOD_POD_HOSTNAME: hostname(),
    FERRY_VENV: join(sources.endpointDir, "venv"),
    FERRY_PARENT_PIPE_FD: "3",
  };
}

/** Whether workers started before the change run a different setup than the endpoint now asks for. */
export function workerSetupChanged(previous: EndpointConfig, next: EndpointConfig): boolean {
  return JSON.stringify(previous.template.env) !== JSON.stringify(next.template.env) || previous.templateId !== next.templateId;
}
