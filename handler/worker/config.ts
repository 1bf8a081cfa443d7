/**
 * What the RunPod platform injects into a worker's environment, read once at start.
 */
import { randomUUID } from "node:crypto";

export interface RunpodEnvironment {
  /** Job-take URL template; unset means the worker is not on RunPod. */
  getJobUrl?: string;
  postOutputUrl?: string;
  postStreamUrl?: string;
  pingUrl?: string;
  /** This worker's id (RUNPOD_POD_ID; a random id when absent, as the Python library does). */
  workerId: string;
  podIdSet: boolean;
  /** Sent raw as the Authorization header. */
  apiKey?: string;
  pingIntervalMs: number;
  hostname: string;
  endpointId?: string;
  logLevel?: string;
}

const DEFAULT_PING_INTERVAL_MS = 10_000;

const nonEmpty = (value: string | undefined): string | undefined => (value && value.trim() !== "" ? value : undefined);

export function readRunpodEnvironment(env: NodeJS.ProcessEnv): RunpodEnvironment {
  const podId = nonEmpty(env.RUNPOD_POD_ID);
  const interval = Number(env.RUNPOD_PING_INTERVAL);
  return {
    getJobUrl: nonEmpty(env.RUNPOD_WEBHOOK_GET_JOB),
    postOutputUrl: nonEmpty(env.RUNPOD_WEBHOOK_POST_OUTPUT),
    postStreamUrl: nonEmpty(env.RUNPOD_WEBHOOK_POST_STREAM),
    pingUrl: nonEmpty(env.RUNPOD_WEBHOOK_PING),
    workerId: podId ?? randomUUID(),
    podIdSet: podId !== undefined,
    apiKey: nonEmpty(env.RUNPOD_AI_API_KEY),
    pingIntervalMs: Number.isFinite(interval) && interval > 0 ? interval : DEFAULT_PING_INTERVAL_MS,
    hostname: nonEmpty(env.RUNPOD_POD_HOSTNAME) ?? "unknown",
    endpointId: nonEmpty(env.RUNPOD_ENDPOINT_ID),
    logLevel: nonEmpty(env.RUNPOD_LOG_LEVEL),
  };
}
