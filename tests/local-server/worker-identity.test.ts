/**
 * Workers are known by their own key and pod id, as on RunPod: a worker that leaves
 * `$RUNPOD_POD_ID` unsubstituted in its take path (RunPod's Python library does) still completes
 * its jobs, one worker cannot complete or stream into a job another holds, and neither the client
 * key nor a key of another endpoint opens the worker routes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointInput, startTestServer, type TestServer } from "./helpers.ts";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ longPollMs: 200, pingIntervalMs: 500, persistEndpoints: false });
});
afterAll(async () => {
  await t?.close();
});

type Worker = Record<string, string>;
const as = (worker: Worker) => ({ authorization: worker.RUNPOD_AI_API_KEY! });
/** The take URL exactly as runpod-python builds it: `$ID` filled in, `$RUNPOD_POD_ID` left. */
const pythonTakePath = (worker: Worker) => new URL(worker.RUNPOD_WEBHOOK_GET_JOB!.replaceAll("$ID", worker.RUNPOD_POD_ID!)).pathname + "?gpu=LOCAL&job_in_progress=0";
const fill = (template: string, worker: Worker, jobId: string) => {
  const url = new URL(template.replaceAll("$RUNPOD_POD_ID", worker.RUNPOD_POD_ID!).replaceAll("$ID", jobId));
  return `${url.pathname}${url.search}`;
};

describe("worker identity", () => {
  it("a worker taking with a literal $RUNPOD_POD_ID and posting under its real id completes its jobs", async () => {
    const id = t.server.saveEndpoint(endpointInput({ name: "python-urls" })).id;
    const worker = t.server.issueWorker(id);
    expect(worker.RUNPOD_WEBHOOK_GET_JOB).toBe(`${t.server.url}/v2/${id}/job-take/$RUNPOD_POD_ID?gpu=LOCAL`);
    const run = await t.call(`/v2/${id}/run`, { body: { input: { n: 1 } } });
    const takePath = pythonTakePath(worker);
    expect(takePath).toContain("/job-take/$RUNPOD_POD_ID");
    const taken = await t.call(takePath, { headers: as(worker) });
    expect(taken).toMatchObject({ status: 200, body: { id: run.body.id, input: { n: 1 } } });

    // Stop polls use the same unsubstituted path.
    const stop = await t.call(takePath.replace("/job-take/", "/job-stop/"), { headers: as(worker) });
    expect(stop.status).toBe(204);
    const ping = await t.call(`${fill(worker.RUNPOD_WEBHOOK_PING!, worker, "")}&job_id=${run.body.id}&runpod_version=1.12.0`, { headers: as(worker) });
    expect(ping.status).toBe(200);

    const done = await t.call(`${fill(worker.RUNPOD_WEBHOOK_POST_OUTPUT!, worker, run.body.id)}&isStream=false`, { body: { output: { ok: true } }, headers: as(worker) });
    expect(done.status).toBe(200);
    expect((await t.call(`/v2/${id}/status/${run.body.id}`)).body).toMatchObject({ status: "COMPLETED", output: { ok: true } });
  });

  it("a worker the server starts completes jobs when it fills the take URL as runpod-python does", async () => {
    const endpoint = t.server.saveEndpoint(
      endpointInput({ name: "managed-python-urls", workersMax: 1, template: { name: "t", env: [{ key: "TEST_WORKER_PYTHON_URLS", value: "1" }] } }),
    );
    const first = await t.call(`/v2/${endpoint.id}/runsync?wait=20000`, { body: { input: { value: "one" } } });
    expect(first.body).toMatchObject({ status: "COMPLETED", output: { echo: "one" } });
    const [worker] = t.server.workers(endpoint.id);
    expect(first.body.output.worker).toBe(worker!.podId);
    const second = await t.call(`/v2/${endpoint.id}/runsync?wait=20000`, { body: { input: { value: "two", stream: 2 } } });
    expect(second.body).toMatchObject({ status: "COMPLETED" });
  });

  it("one worker cannot complete or stream into a job another worker holds", async () => {
    const id = t.server.saveEndpoint(endpointInput({ name: "two-workers" })).id;
    const holder = t.server.issueWorker(id);
    const other = t.server.issueWorker(id);
    const run = await t.call(`/v2/${id}/run`, { body: { input: {} } });
    expect((await t.call(pythonTakePath(holder), { headers: as(holder) })).body.id).toBe(run.body.id);

    const otherDone = await t.call(`${fill(other.RUNPOD_WEBHOOK_POST_OUTPUT!, other, run.body.id)}&isStream=false`, { body: { output: "stolen" }, headers: as(other) });
    expect(otherDone.status).toBe(409);
    const otherStream = await t.call(`${fill(other.RUNPOD_WEBHOOK_POST_STREAM!, other, run.body.id)}&isStream=false`, { body: { output: "stolen" }, headers: as(other) });
    expect(otherStream.status).toBe(409);
    // Naming the holder's pod id in the path does not help: the key says who is calling.
    const spoofed = await t.call(`${fill(holder.RUNPOD_WEBHOOK_POST_OUTPUT!, holder, run.body.id)}&isStream=false`, { body: { output: "stolen" }, headers: as(other) });
    expect(spoofed.status).toBe(403);
    expect(spoofed.body.error).toMatch(/belongs to worker/);
    const unkeyed = await t.call(`${fill(holder.RUNPOD_WEBHOOK_POST_OUTPUT!, holder, run.body.id)}&isStream=false`, { body: { output: "stolen" } });
    expect(unkeyed.status).toBe(401);
    expect((await t.call(`/v2/${id}/status/${run.body.id}`)).body.status).toBe("IN_PROGRESS");

    const done = await t.call(`${fill(holder.RUNPOD_WEBHOOK_POST_OUTPUT!, holder, run.body.id)}&isStream=false`, { body: { output: "mine" }, headers: as(holder) });
    expect(done.status).toBe(200);
    expect((await t.call(`/v2/${id}/status/${run.body.id}`)).body).toMatchObject({ status: "COMPLETED", output: "mine" });
  });

  it("refuses a placeholder path with no key, and a key of another endpoint", async () => {
    const a = t.server.saveEndpoint(endpointInput({ name: "ep-a" })).id;
    const b = t.server.saveEndpoint(endpointInput({ name: "ep-b" })).id;
    const placeholder = await t.call(`/v2/${a}/job-take/$RUNPOD_POD_ID?gpu=LOCAL`);
    expect(placeholder.status).toBe(400);
    expect(placeholder.body.error).toMatch(/RUNPOD_AI_API_KEY/);
    const workerOfA = t.server.issueWorker(a);
    const crossed = await t.call(`/v2/${b}/job-take/$RUNPOD_POD_ID?gpu=LOCAL`, { headers: as(workerOfA) });
    expect(crossed.status).toBe(403);
    expect(() => t.server.issueWorker("nosuchendpoint")).toThrow(/not found/);
  });
});

describe("worker routes with a client key configured", () => {
  it("want a worker's own key: the client key and no key are refused", async () => {
    const secured = await startTestServer({ apiKey: "client-key-1", longPollMs: 100, persistEndpoints: false });
    try {
      const id = secured.server.saveEndpoint(endpointInput()).id;
      const worker = secured.server.issueWorker(id);
      const refused = await secured.call(`/v2/${id}/job-take/${worker.RUNPOD_POD_ID}?gpu=LOCAL`, { headers: { authorization: "Bearer client-key-1" } });
      expect(refused.status).toBe(401);
      expect(refused.body.error).toMatch(/client key does not open them/);
      expect((await secured.call(`/v2/${id}/job-take/some-pod?gpu=LOCAL`)).status).toBe(401);
      const run = await secured.call(`/v2/${id}/run`, { body: { input: {} }, headers: { authorization: "Bearer client-key-1" } });
      expect((await secured.call(pythonTakePath(worker), { headers: as(worker) })).body.id).toBe(run.body.id);
    } finally {
      await secured.close();
    }
  });
});
