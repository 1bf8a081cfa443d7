/**
 * docs/http.md is a manual for plain HTTP callers: every body it marks (`<!-- http-body: NAME -->`)
 * is sent, exactly as written, to a local server with real Ferry workers (dist/handler.mjs), and
 * the answers have the shapes the page shows. Its Python `requests` client runs against the same
 * endpoint.
 */
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_WORKER_SCRIPT } from "../../sdk/local-server/server.ts";
import { endpointInput, startTestServer, waitUntil, type TestServer } from "../local-server/helpers.ts";

const page = readFileSync("docs/http.md", "utf8");
const marked = (kind: string) => new Map([...page.matchAll(new RegExp(`<!-- ${kind}: ([a-z-]+) -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => [m[1]!, m[2]!]));
const bodies = marked("http-body");
const clients = marked("http-client");
const python = existsSync(".ferry/python") ? readFileSync(".ferry/python", "utf8").trim() : "python3";

let t: TestServer;
let base: string;
beforeAll(async () => {
  t = await startTestServer({ workerCommand: [process.execPath, DEFAULT_WORKER_SCRIPT], persistEndpoints: false });
  const id = t.server.saveEndpoint(endpointInput({ name: "http-doc", workersMax: 1, idleTimeout: 60 })).id;
  base = `/v2/${id}`;
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const runsync = async (name: string) => {
  const body = bodies.get(name);
  if (body === undefined) throw new Error(`docs/http.md has no body marked ${name}`);
  return t.call(`${base}/runsync?wait=120000`, { body });
};

describe("docs/http.md", () => {
  it("marks the bodies this test sends", () => {
    expect([...bodies.keys()].sort()).toEqual(["class-method", "dependencies", "error", "function", "generator"]);
    expect([...clients.keys()]).toEqual(["python"]);
  });

  it("a function: the value in output.json_result, its print in stdout", async () => {
    const answer = await runsync("function");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: "COMPLETED", output: { success: true, json_result: 5, stdout: "adding\n" }, workerId: expect.any(String) });
  }, 120_000);

  it("a class method: the value and an instance id; the instance answers again with create_new_instance false", async () => {
    const first = await runsync("class-method");
    expect(first.body).toMatchObject({ status: "COMPLETED", output: { success: true, json_result: 15, instance_id: expect.any(String), instance_info: { class_name: "Counter", created: true } } });
    const input = { ...JSON.parse(bodies.get("class-method")!).input, instance_id: first.body.output.instance_id, create_new_instance: false };
    const again = await t.call(`${base}/runsync?wait=120000`, { body: { input } });
    expect(again.body.output).toMatchObject({ success: true, json_result: 20, instance_id: first.body.output.instance_id });
  }, 120_000);

  it("dependencies: a requirement already present is reported and not installed", async () => {
    const answer = await runsync("dependencies");
    expect(answer.body).toMatchObject({ status: "COMPLETED", output: { success: true, json_result: expect.stringMatching(/^\d+/) } });
    expect(answer.body.output.details.dependencies.python.already_present[0]).toMatchObject({ name: "packaging" });
  }, 120_000);

  it("an error: FAILED, the message at the top level, the details in output", async () => {
    const answer = await runsync("error");
    expect(answer.body).toMatchObject({
      status: "FAILED",
      error: expect.stringMatching(/^ValueError: no\n\nTraceback/),
      output: { success: false, error_type: "ValueError", error_traceback: expect.stringContaining("raise ValueError('no')"), stdout: "" },
    });
  }, 120_000);

  it("a generator: /stream hands out log and value items as the page shows them", async () => {
    const started = await t.call(`${base}/run`, { body: bodies.get("generator") });
    expect(started.body).toEqual({ id: expect.any(String), status: "IN_QUEUE" });
    const items: Array<{ output: Record<string, unknown> }> = [];
    await waitUntil(async () => {
      const chunk = await t.call(`${base}/stream/${started.body.id}`);
      items.push(...chunk.body.stream);
      return chunk.body.status === "COMPLETED";
    }, 60_000, "the stream to end", 100);
    expect(items.filter((i) => "value" in i.output).map((i) => i.output.value)).toEqual([{ i: 0 }, { i: 1 }]);
    expect(items.filter((i) => "log" in i.output).map((i) => i.output.log)).toEqual([
      { stream: "stdout", line: "step 0", job_id: started.body.id, worker_id: expect.any(String) },
      { stream: "stdout", line: "step 1", job_id: started.body.id, worker_id: expect.any(String) },
    ]);
    expect(items.find((i) => "progress" in i.output)?.output.progress).toMatchObject({ phase: expect.stringMatching(/^(started|running)$/) });
    expect((await t.call(`${base}/status/${started.body.id}`)).body.output).toMatchObject({ success: true, stream_count: 2 });
  }, 120_000);

  it("the Python requests client prints the product", async () => {
    const hasRequests = spawnSync(python, ["-c", "import requests"]).status === 0;
    expect(hasRequests, `the runner's Python (${python}) has no requests module: apt-get install python3-requests`).toBe(true);
    // Asynchronously: the server answering it runs in this process.
    const run = await promisify(execFile)(python, ["-c", clients.get("python")!], { env: { ...process.env, FERRY_ENDPOINT_URL: t.server.url + base }, timeout: 60_000 });
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("42\n");
  }, 120_000);
});
