/**
 * How many workers an endpoint wants, and which idle ones may go: RunPod's scaler in small.
 * `QUEUE_DELAY` wants one worker per queued or running job, `REQUEST_COUNT` one per
 * `scalerValue` of them, always within `workersMin`..`workersMax`; a surplus worker stops once
 * it has been idle for the endpoint's `idleTimeout`.
 */
import type { EndpointConfig } from "./endpoint-registry.ts";
import type { JobCounts } from "./job.ts";

export interface ScalingInput<W> {
  endpoint: EndpointConfig;
  counts: JobCounts;
  /** Workers running and not stopping. */
  live: readonly W[];
  /** When starts are held back after failed starts (see StartBackoff). */
  startsBlockedUntil: number | undefined;
  /** Since when the worker has been idle; undefined when it is busy or has not reached the server. */
  idleSince: (worker: W) => number | undefined;
  now: number;
}

export interface ScalingPlan<W> {
  /** Workers to start now. */
  start: number;
  /** Idle surplus workers to stop now. */
  stop: W[];
  /** When to decide again (Infinity: only at the next change). */
  nextCheck: number;
}

export function planScaling<W>({ endpoint, counts, live, startsBlockedUntil, idleSince, now }: ScalingInput<W>): ScalingPlan<W> {
  const perWorker = endpoint.scalerType === "REQUEST_COUNT" ? Math.max(1, endpoint.scalerValue) : 1;
  const wanted = Math.ceil((counts.inQueue + counts.inProgress) / perWorker);
  const desired = Math.min(endpoint.workersMax, Math.max(endpoint.workersMin, wanted));
  const plan: ScalingPlan<W> = { start: 0, stop: [], nextCheck: Infinity };

  if (live.length < desired) {
    if (startsBlockedUntil !== undefined) plan.nextCheck = startsBlockedUntil;
    else plan.start = desired - live.length;
  } else if (live.length > desired) {
    let surplus = live.length - Math.max(endpoint.workersMin, desired);
    const idleMs = endpoint.idleTimeout * 1000;
    for (const worker of live) {
      if (surplus <= 0) break;
      const since = idleSince(worker);
      if (since === undefined) continue;
      if (since + idleMs <= now) {
        plan.stop.push(worker);
        surplus--;
      } else {
        plan.nextCheck = Math.min(plan.nextCheck, since + idleMs);
      }
    }
  }
  return plan;
}
