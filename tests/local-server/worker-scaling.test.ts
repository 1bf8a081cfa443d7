/**
 * The scaler's decision, as a pure function: workers wanted per queued or running job (one each,
 * or one per `scalerValue` with REQUEST_COUNT) within workersMin..workersMax; starts held back
 * while failed starts back off; surplus workers stop only once idle past idleTimeout.
 */
import { describe, expect, it } from "vitest";
import { endpointDefaults, type EndpointConfig } from "../../sdk/local-server/endpoint-registry.ts";
import type { JobCounts } from "../../sdk/local-server/job.ts";
import { planScaling } from "../../sdk/local-server/worker-scaling.ts";

const NOW = 1_000_000;
const endpoint = (fields: Partial<EndpointConfig>): EndpointConfig => ({ ...endpointDefaults(), ...fields });
const counts = (inQueue: number, inProgress = 0): JobCounts => ({ completed: 0, failed: 0, inQueue, inProgress, retried: 0 });

describe("planScaling", () => {
  it("starts one worker per queued or running job, within workersMin..workersMax", () => {
    const base = { live: [] as string[], startsBlockedUntil: undefined, idleSince: () => undefined, now: NOW };
    expect(planScaling({ ...base, endpoint: endpoint({ workersMin: 0, workersMax: 3 }), counts: counts(2, 0) }).start).toBe(2);
    expect(planScaling({ ...base, endpoint: endpoint({ workersMin: 0, workersMax: 3 }), counts: counts(5, 2) }).start).toBe(3);
    expect(planScaling({ ...base, endpoint: endpoint({ workersMin: 2, workersMax: 3 }), counts: counts(0) }).start).toBe(2);
    expect(planScaling({ ...base, endpoint: endpoint({ workersMin: 0, workersMax: 3, scalerType: "REQUEST_COUNT", scalerValue: 4 }), counts: counts(5) }).start).toBe(2);
  });

  it("holds starts back while failed starts back off, and decides again when the backoff ends", () => {
    const plan = planScaling({ endpoint: endpoint({ workersMin: 1, workersMax: 1 }), counts: counts(1), live: [], startsBlockedUntil: NOW + 500, idleSince: () => undefined, now: NOW });
    expect(plan).toEqual({ start: 0, stop: [], nextCheck: NOW + 500 });
  });

  it("stops surplus workers idle past idleTimeout, keeps busy or unready ones, and checks again when the next one would be idle long enough", () => {
    const idle: Record<string, number | undefined> = { busy: undefined, old: NOW - 10_000, fresh: NOW - 1_000, unready: undefined };
    const plan = planScaling({
      endpoint: endpoint({ workersMin: 0, workersMax: 4, idleTimeout: 5 }),
      counts: counts(0),
      live: ["busy", "old", "fresh", "unready"],
      startsBlockedUntil: undefined,
      idleSince: (w) => idle[w],
      now: NOW,
    });
    expect(plan).toEqual({ start: 0, stop: ["old"], nextCheck: NOW + 4_000 });
  });

  it("never stops below workersMin", () => {
    const plan = planScaling({
      endpoint: endpoint({ workersMin: 1, workersMax: 3, idleTimeout: 1 }),
      counts: counts(0),
      live: ["a", "b"],
      startsBlockedUntil: undefined,
      idleSince: () => NOW - 60_000,
      now: NOW,
    });
    expect(plan.stop).toEqual(["a"]);
  });
});
