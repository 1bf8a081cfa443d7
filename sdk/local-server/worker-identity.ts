/**
 * Who is calling a worker route. RunPod gives every worker its own pod id and key and knows the
 * worker by them, so a worker that leaves `$RUNPOD_POD_ID` unsubstituted in its take path (as
 * RunPod's Python library does: it fills in only `$ID` there) is still known. The local server
 * does the same: each worker it starts, and each identity issued for a worker started elsewhere,
 * gets a key bound to its pod id and endpoint, and that binding decides who the caller is.
 *
 * The client key (`apiKey`) never opens a worker route. Without a client key the server is open
 * (127.0.0.1 only), and a caller with no issued key is known by the pod id in its path.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HttpError, presentedKey } from "./http-util.ts";

export interface IssuedWorker {
  podId: string;
  endpointId: string;
  /** RUNPOD_AI_API_KEY of that worker; sent raw in `Authorization`. */
  key: string;
}

export interface WorkerIdentityOptions {
  /** The client key: when set, worker routes want an issued worker key. */
  clientKey?: string;
}

/** A path segment that is a template placeholder (`$RUNPOD_POD_ID`) rather than a pod id. */
export function isPlaceholder(segment: string): boolean {
  return segment.startsWith("$");
}

export class WorkerIdentities {
  private readonly byKey = new Map<string, IssuedWorker>();
  private readonly byPod = new Map<string, IssuedWorker>();

  constructor(private readonly options: WorkerIdentityOptions = {}) {}

  /** A new pod id and its key for one worker of the endpoint. */
  issue(endpointId: string): IssuedWorker {
    const podId = `${endpointId}-${randomBytes(4).toString("hex")}`;
    const issued: IssuedWorker = { podId, endpointId, key: `ferry-worker-${randomBytes(24).toString("hex")}` };
    this.byKey.set(issued.key, issued);
    this.byPod.set(podId, issued);
    return issued;
  }

  /** The worker is gone for good: its key stops working. */
  revoke(podId: string): void {
    const issued = this.byPod.get(podId);
    if (!issued) return;
    this.byPod.delete(podId);
    this.byKey.delete(issued.key);
  }

  /**
   * The pod id of the worker making this call to `endpointId`, whose path names `pathPodId`.
   * Throws 401 / 403 / 400 with the reason when the call cannot be attributed to a worker.
   */
  identify(req: IncomingMessage, endpointId: string, pathPodId: string): string {
    const presented = presentedKey(req);
    const issued = presented === undefined ? undefined : this.byKey.get(presented);
    if (issued) {
      if (issued.endpointId !== endpointId) throw new HttpError(403, `this worker key belongs to a worker of endpoint ${issued.endpointId}`);
      if (!isPlaceholder(pathPodId) && pathPodId !== issued.podId) {
        throw new HttpError(403, `this worker key belongs to worker ${issued.podId}, not ${pathPodId}`);
      }
      return issued.podId;
    }
    if (this.options.clientKey !== undefined) {
      throw new HttpError(401, "worker routes want the worker's own key (RUNPOD_AI_API_KEY of a worker this server started or issued); the client key does not open them");
    }
    if (this.byPod.has(pathPodId)) throw new HttpError(401, `worker ${pathPodId} must send its own key (RUNPOD_AI_API_KEY)`);
    if (isPlaceholder(pathPodId)) {
      throw new HttpError(400, `the worker path names "${pathPodId}", not a pod id, and no worker key says which worker this is: send the worker's RUNPOD_AI_API_KEY`);
    }
    return pathPodId;
  }
}

/**
 * The variables RunPod sets in a worker's environment, for one worker of an endpoint on the
 * server at `serverUrl`. The templates keep `$RUNPOD_POD_ID` and `$ID`, as RunPod's do.
 */
export function runpodWorkerVariables(serverUrl: string, worker: IssuedWorker, pingIntervalMs: number): Record<string, string> {
  const api = `${serverUrl}/v2/${worker.endpointId}`;
  return {
    RUNPOD_WEBHOOK_GET_JOB: `${api}/job-take/$RUNPOD_POD_ID?gpu=LOCAL`,
    RUNPOD_WEBHOOK_POST_OUTPUT: `${api}/job-done/$RUNPOD_POD_ID/$ID?gpu=LOCAL`,
    RUNPOD_WEBHOOK_POST_STREAM: `${api}/job-stream/$RUNPOD_POD_ID/$ID?gpu=LOCAL`,
    RUNPOD_WEBHOOK_PING: `${api}/ping/$RUNPOD_POD_ID?gpu=LOCAL`,
    RUNPOD_POD_ID: worker.podId,
    RUNPOD_AI_API_KEY: worker.key,
    RUNPOD_ENDPOINT_ID: worker.endpointId,
    RUNPOD_PING_INTERVAL: String(pingIntervalMs),
  };
}
