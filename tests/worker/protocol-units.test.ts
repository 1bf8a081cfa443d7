// The pure parts of the protocol: URL templates, job-done body rules, backoff, job schema.
import { describe, expect, it } from "vitest";
import { Backoff, EmptyPollPacer } from "../../handler/worker/backoff.ts";
import { ConcurrencyTarget } from "../../handler/worker/concurrency.ts";
import { parseJob } from "../../handler/worker/job-schema.ts";
import { errorBody, jobDoneBody, serializeBody } from "../../handler/worker/results.ts";
import { fillTemplate, jobDoneUrl, jobStopUrl, jobTakeUrl, pingUrl, streamUrl, withQuery } from "../../handler/worker/url-templates.ts";

const TAKE = "https://api.runpod.ai/v2/ep1/job-take/$RUNPOD_POD_ID?gpu=NVIDIA+RTX+A5000";
const DONE = "https://api.runpod.ai/v2/ep1/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+RTX+A5000";
const PING = "https://api.runpod.ai/v2/ep1/ping/$RUNPOD_POD_ID?gpu=NVIDIA+RTX+A5000";

describe("URL templates", () => {
  it("substitutes $RUNPOD_POD_ID first, then $ID", () => {
    expect(fillTemplate("/a/$RUNPOD_POD_ID/$ID", "w1", "j1")).toBe("/a/w1/j1");
  });

  it("builds job-take, batch take and job-stop URLs", () => {
    expect(jobTakeUrl(TAKE, "w1", 1, false)).toBe("https://api.runpod.ai/v2/ep1/job-take/w1?gpu=NVIDIA+RTX+A5000&job_in_progress=0");
    expect(jobTakeUrl(TAKE, "w1", 3, true)).toBe(
      "https://api.runpod.ai/v2/ep1/job-take-batch/w1?gpu=NVIDIA+RTX+A5000&batch_size=3&job_in_progress=1",
    );
    expect(jobStopUrl(TAKE, "w1")).toBe("https://api.runpod.ai/v2/ep1/job-stop/w1?gpu=NVIDIA+RTX+A5000");
  });

  it("builds job-done, stream and ping URLs", () => {
    expect(jobDoneUrl(DONE, "w1", "abc-u1", true)).toBe("https://api.runpod.ai/v2/ep1/job-done/w1/abc-u1?gpu=NVIDIA+RTX+A5000&isStream=true");
    expect(streamUrl(DONE.replace("job-done", "job-stream"), "w1", "abc-u1")).toMatch(/job-stream\/w1\/abc-u1\?gpu=NVIDIA\+RTX\+A5000&isStream=false$/);
    expect(pingUrl(PING, "w1", [], "0.1.0")).toBe("https://api.runpod.ai/v2/ep1/ping/w1?gpu=NVIDIA+RTX+A5000&runpod_version=0.1.0");
    const busy = new URL(pingUrl(PING, "w1", ["a", "b"], "0.1.0"));
    expect(busy.searchParams.get("job_id")).toBe("a,b");
  });

  it("uses ? when a template has no query", () => {
    expect(withQuery("http://h/x", { a: 1 })).toBe("http://h/x?a=1");
    expect(withQuery("http://h/x?", { a: 1 })).toBe("http://h/x?a=1");
  });
});

describe("job-done body rules", () => {
  it("pops error and refresh_worker from an object output", () => {
    expect(jobDoneBody({ result: 1, error: "boom", refresh_worker: true })).toEqual({ output: { result: 1 }, error: "boom", stopPod: true });
    expect(jobDoneBody({ result: 1, error: null, refresh_worker: false })).toEqual({ output: { result: 1 } });
  });

  it("drops an output of exactly {}", () => {
    expect(jobDoneBody({})).toEqual({});
    expect(jobDoneBody({ error: "only an error" })).toEqual({ error: "only an error" });
  });

  it("wraps anything else, keeping [] and falsy values", () => {
    expect(jobDoneBody([1, 2])).toEqual({ output: [1, 2] });
    expect(jobDoneBody([])).toEqual({ output: [] });
    expect(jobDoneBody(false)).toEqual({ output: false });
    expect(jobDoneBody("text")).toEqual({ output: "text" });
    expect(jobDoneBody(undefined)).toEqual({ output: null });
  });

  it("sends a non-string error as JSON text, so the job still reads FAILED", () => {
    expect(jobDoneBody({ error: { code: 3 } })).toEqual({ error: '{"code":3}' });
  });

  it("a thrown error becomes the JSON-string error object", () => {
    const body = errorBody(new TypeError("bad"), { hostname: "h", workerId: "w", version: "9.9.9" });
    expect(typeof body.error).toBe("string");
    const payload = JSON.parse(body.error!) as Record<string, unknown>;
    expect(Object.keys(payload).sort()).toEqual(["error_message", "error_traceback", "error_type", "hostname", "runpod_version", "worker_id"]);
    expect(payload).toMatchObject({ error_type: "TypeError", error_message: "bad", hostname: "h", worker_id: "w", runpod_version: "9.9.9" });
    expect(payload.error_traceback).toContain("TypeError: bad");
  });

  it("an output JSON cannot encode becomes a SerializationError body", () => {
    const text = serializeBody({ output: { n: 10n } }, { hostname: "h", workerId: "w", version: "v" });
    const payload = JSON.parse((JSON.parse(text) as { error: string }).error) as Record<string, unknown>;
    expect(payload.error_type).toBe("SerializationError");
  });
});

describe("backoff", () => {
  it("grows exponentially to the cap, with jitter in [50%, 100%]", () => {
    const top = new Backoff(100, 1000, () => 1);
    expect([top.next(), top.next(), top.next(), top.next(), top.next(), top.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    const bottom = new Backoff(100, 1000, () => 0);
    expect([bottom.next(), bottom.next()]).toEqual([50, 100]);
    bottom.reset();
    expect(bottom.next()).toBe(50);
  });
});

describe("empty-poll pacing", () => {
  it("quick empty answers wait 5 ms doubling to 1 s; a held poll or a job resets", () => {
    const top = new EmptyPollPacer(100, 5, 1_000, () => 1);
    expect(Array.from({ length: 10 }, () => top.afterEmpty(1))).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1_000, 1_000]);
    // A poll the server held (a real long poll) means no wait, and starts over.
    expect(top.afterEmpty(150)).toBe(0);
    expect(top.afterEmpty(99)).toBe(5);
    expect(top.afterEmpty(1)).toBe(10);
    top.reset();
    expect(top.afterEmpty(1)).toBe(5);
    // Jitter: down to half the ceiling.
    const bottom = new EmptyPollPacer(100, 5, 1_000, () => 0);
    expect([bottom.afterEmpty(0), bottom.afterEmpty(0), bottom.afterEmpty(0)]).toEqual([3, 5, 10]);
  });
});

describe("job schema", () => {
  it("needs a string id and an input (null is an input), keeps other keys", () => {
    expect(parseJob({ id: "j", input: null, webhook: "x" })).toEqual({ ok: true, job: { id: "j", input: null, webhook: "x" } });
    expect(parseJob({ id: "j" }).ok).toBe(false);
    expect(parseJob({ input: 1 }).ok).toBe(false);
    expect(parseJob({ id: 5, input: 1 }).ok).toBe(false);
  });
});

describe("concurrency target", () => {
  it("a fixed number that is not a positive integer means 1; a modifier may pause (0)", () => {
    expect(new ConcurrencyTarget(Number("x")).next()).toBe(1);
    expect(new ConcurrencyTarget(0).next()).toBe(1);
    expect(new ConcurrencyTarget(2.7).next()).toBe(2);
    const modifier = new ConcurrencyTarget((current) => (current === 1 ? 4 : 0));
    expect([modifier.next(), modifier.next()]).toEqual([4, 0]);
    expect(new ConcurrencyTarget(() => Number.NaN).next()).toBe(1);
  });
});
