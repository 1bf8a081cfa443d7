/**
 * Choosing the target: RunPod with a key, local without, FERRY_TARGET forcing either, the URL
 * overrides, and the local server found through `.ferry/local.json` or started in-process
 * (with one line saying so).
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../sdk/errors.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { Runtime } from "../../sdk/runtime.ts";
import { RUNPOD_ENDPOINT_BASE_URL, RUNPOD_GRAPHQL_URL, resolveTarget } from "../../sdk/target.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-target-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("resolveTarget", () => {
  it("RUNPOD_API_KEY set -> RunPod with RunPod's URLs; the key source is named", () => {
    const t = resolveTarget({ stateDir: dir }, { RUNPOD_API_KEY: "rp_x" });
    expect(t).toMatchObject({ kind: "runpod", apiKey: "rp_x", endpointBaseUrl: RUNPOD_ENDPOINT_BASE_URL, graphqlUrl: RUNPOD_GRAPHQL_URL, keySource: "the RUNPOD_API_KEY environment variable" });
    expect(resolveTarget({ stateDir: dir, apiKey: "k" }, {})).toMatchObject({ kind: "runpod", keySource: "configure({ apiKey })" });
  });

  it("URLs are overridable the way RunPod's SDKs read them", () => {
    const t = resolveTarget({ stateDir: dir }, { RUNPOD_API_KEY: "k", RUNPOD_ENDPOINT_BASE_URL: "http://h:1/v2/", RUNPOD_API_BASE_URL: "http://h:1" });
    expect(t).toMatchObject({ endpointBaseUrl: "http://h:1/v2", graphqlUrl: "http://h:1/graphql" });
    expect(resolveTarget({ stateDir: dir }, { RUNPOD_API_KEY: "k", RUNPOD_GRAPHQL_URL: "http://g/graphql" })).toMatchObject({ graphqlUrl: "http://g/graphql" });
  });

  it("no key -> local; FERRY_TARGET forces either", () => {
    expect(resolveTarget({ stateDir: dir }, {})).toMatchObject({ kind: "local", url: undefined });
    expect(resolveTarget({ stateDir: dir }, { RUNPOD_API_KEY: "k", FERRY_TARGET: "local" }).kind).toBe("local");
    expect(() => resolveTarget({ stateDir: dir }, { FERRY_TARGET: "runpod" })).toThrow(ConfigError);
    expect(() => resolveTarget({ stateDir: dir }, { FERRY_TARGET: "cloud" })).toThrow('FERRY_TARGET must be "local" or "runpod"');
  });

  it("the local server is found through .ferry/local.json", () => {
    const stateDir = join(dir, "with-record");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, "local.json"), JSON.stringify({ url: "http://127.0.0.1:8765", pid: 1 }));
    expect(resolveTarget({ stateDir }, {})).toMatchObject({ kind: "local", url: "http://127.0.0.1:8765" });
  });
});

describe("Runtime on the local target", () => {
  let server: LocalServer;
  beforeAll(async () => {
    server = await startLocalServer({ stateDir: join(dir, "srv"), persistEndpoints: false });
  });
  afterAll(async () => server?.close());

  it("uses a running server named by .ferry/local.json, and says so in one line", async () => {
    const stateDir = join(dir, "found");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, "local.json"), JSON.stringify({ url: server.url }));
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const runtime = new Runtime({ stateDir, env: {} });
      const t = await runtime.target();
      expect(t).toMatchObject({ kind: "local", endpointBaseUrl: `${server.url}/v2`, graphqlUrl: `${server.url}/graphql` });
      await runtime.target();
      const lines = write.mock.calls.map((c) => String(c[0]));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ferry: RUNPOD_API_KEY is not set, so calls run on the local endpoint server at http:\/\/127\.0\.0\.1:\d+\. Set RUNPOD_API_KEY/);
      await runtime.close();
    } finally {
      write.mockRestore();
    }
  });

  it("starts a server in-process when none is recorded (or the record is stale)", async () => {
    const stateDir = join(dir, "inproc");
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, "local.json"), JSON.stringify({ url: "http://127.0.0.1:9" }));
    const runtime = new Runtime({ stateDir, env: {}, quiet: true });
    const t = await runtime.target();
    expect(t.kind).toBe("local");
    expect(t.endpointBaseUrl).not.toContain(":9/");
    const res = await fetch(t.endpointBaseUrl.replace(/\/v2$/, "/"));
    expect(((await res.json()) as { server: string }).server).toBe("ferry-local-runpod");
    await runtime.close();
  });
});
