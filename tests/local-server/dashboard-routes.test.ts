// The dashboard's routes beside the API: a browser asking `/` for HTML gets the page, an API
// client asking `/` for JSON keeps the server's description; the page's files carry no data and
// a strict content security policy; its data wants the same key as the API.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpointInput, startTestServer, type TestServer } from "./helpers.ts";

const KEY = "dashboard-test-key";
let t: TestServer;
let endpointId: string;

beforeAll(async () => {
  t = await startTestServer({ apiKey: KEY, persistEndpoints: false });
  endpointId = t.server.saveEndpoint(endpointInput({ name: "dash", workersMin: 0, workersMax: 1 })).id;
});
afterAll(async () => {
  await t?.close();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(t.server.url + path, { headers });

describe("dashboard routes", () => {
  it("serves the page to a browser and JSON to an API client at /", async () => {
    const page = await get("/", { accept: "text/html,application/xhtml+xml" });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="/dashboard/app.js">');
    const json = await get("/", { accept: "application/json" });
    expect((await json.json()) as { server: string }).toMatchObject({ server: "ferry-local-runpod" });
  });

  it("serves its built files and nothing outside them", async () => {
    const app = await get("/dashboard/app.js");
    expect(app.status).toBe(200);
    expect(app.headers.get("content-type")).toMatch(/javascript/);
    expect((await get("/dashboard/..%2Fhandler.mjs")).status).toBe(404);
    expect((await get("/dashboard/missing.js")).status).toBe(404);
  });

  it("answers its data only with the API key", async () => {
    expect((await get("/dashboard/api/state")).status).toBe(401);
    const state = await get("/dashboard/api/state", { authorization: `Bearer ${KEY}` });
    expect(state.status).toBe(200);
    const body = (await state.json()) as { endpoints: { id: string; workersMax: number }[]; workers: unknown[]; queue: unknown[]; jobs: unknown[] };
    expect(body.endpoints).toContainEqual(expect.objectContaining({ id: endpointId, workersMax: 1 }));
    expect(body).toMatchObject({ queue: [], jobs: [] });
    expect((await get("/dashboard/api/jobs/nope", { authorization: `Bearer ${KEY}` })).status).toBe(404);
  });

  it("lists a queued job and shows it in full", async () => {
    const run = await t.call(`/v2/${endpointId}/run`, { body: { input: { function_name: "f" } }, headers: { authorization: `Bearer ${KEY}` } });
    const id = run.body.id as string;
    const state = (await (await get("/dashboard/api/state", { authorization: KEY })).json()) as { jobs: { id: string; status: string }[] };
    expect(state.jobs[0]).toMatchObject({ id, call: "f" });
    const job = (await (await get(`/dashboard/api/jobs/${id}`, { authorization: KEY })).json()) as { id: string; logs: unknown[] };
    expect(job).toMatchObject({ id, logs: [] });
  });
});
