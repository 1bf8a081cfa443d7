/**
 * Provisioning against the local server's GraphQL (RunPod's saveEndpoint / deleteEndpoint /
 * myself { endpoints }): create, reuse, update in place, recreate after a remote delete, adopt
 * after a lost state file, undeploy, and the deploy lock.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { ensureEndpoint, GraphqlClient, listDeployments, undeploy, type ProvisionContext } from "../../sdk/provisioning.ts";
import { LiveServerless, CpuLiveServerless } from "../../sdk/resources.ts";
import { ProvisioningError } from "../../sdk/errors.ts";

let server: LocalServer;
let ctx: ProvisionContext;
let stateDir: string;
const env = { FERRY_GPU_IMAGE: "ferry/test:1", SECRET_TOKEN: "must-not-leak" } as NodeJS.ProcessEnv;

const stateFile = () => JSON.parse(readFileSync(join(stateDir, "resources.json"), "utf8")) as { targets: Record<string, Record<string, { endpointId: string; hash: string }>> };

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "ferry-prov-"));
  server = await startLocalServer({ stateDir: join(stateDir, "server"), persistEndpoints: false });
  ctx = { graphql: new GraphqlClient(server.graphqlUrl, undefined, "no key"), target: "local", stateDir, env };
});
afterAll(async () => {
  await server?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe("ensureEndpoint", () => {
  it("creates, reuses, updates in place, recreates after a remote delete, and undeploys", async () => {
    const first = await ensureEndpoint(new LiveServerless({ name: "prov-a", workersMax: 1, env: { MODEL: "tiny" } }), ctx);
    expect(first.action).toBe("created");
    const remote = server.endpoints().find((e) => e.id === first.endpointId)!;
    expect(remote).toMatchObject({ name: "prov-a", workersMax: 1, workersMin: 0, idleTimeout: 5 });
    // only the env the resource names
    expect(remote.template.env).toEqual([{ key: "MODEL", value: "tiny" }]);
    expect(remote.template.imageName).toBe("ferry/test:1");
    expect(stateFile().targets.local!["prov-a"]!.endpointId).toBe(first.endpointId);

    const again = await ensureEndpoint(new LiveServerless({ name: "prov-a", workersMax: 1, env: { MODEL: "tiny" } }), ctx);
    expect(again).toEqual({ name: "prov-a", endpointId: first.endpointId, action: "reused" });
    expect(server.endpoints()).toHaveLength(1);

    const changed = await ensureEndpoint(new LiveServerless({ name: "prov-a", workersMax: 2, env: { MODEL: "tiny" } }), ctx);
    expect(changed).toEqual({ name: "prov-a", endpointId: first.endpointId, action: "updated" });
    expect(server.endpoints().find((e) => e.id === first.endpointId)!.workersMax).toBe(2);
    expect(server.endpoints()).toHaveLength(1);

    await ctx.graphql.deleteEndpoint(first.endpointId);
    const recreated = await ensureEndpoint(new LiveServerless({ name: "prov-a", workersMax: 2, env: { MODEL: "tiny" } }), ctx);
    expect(recreated.action).toBe("recreated");
    expect(recreated.endpointId).not.toBe(first.endpointId);
    expect(stateFile().targets.local!["prov-a"]!.endpointId).toBe(recreated.endpointId);

    const rows = await listDeployments(ctx);
    expect(rows).toContainEqual(expect.objectContaining({ name: "prov-a", endpointId: recreated.endpointId, status: "tracked" }));

    const removed = await undeploy("prov-a", ctx);
    expect(removed).toMatchObject({ name: "prov-a", deleted: true });
    expect(server.endpoints().find((e) => e.name === "prov-a")).toBeUndefined();
    expect(stateFile().targets.local!["prov-a"]).toBeUndefined();
    expect((await undeploy("prov-a", ctx)).deleted).toBe(false);
  });

  it("a lost state file adopts the endpoint of the same name instead of leaking a second one", async () => {
    const first = await ensureEndpoint(new CpuLiveServerless({ name: "prov-b" }), ctx);
    rmSync(join(stateDir, "resources.json"));
    const adopted = await ensureEndpoint(new CpuLiveServerless({ name: "prov-b" }), ctx);
    expect(adopted).toEqual({ name: "prov-b", endpointId: first.endpointId, action: "adopted" });
    expect(server.endpoints().filter((e) => e.name === "prov-b")).toHaveLength(1);
    await undeploy("prov-b", ctx);
  });

  it("concurrent deploys of one name in a process create one endpoint", async () => {
    const results = await Promise.all([1, 2, 3].map(() => ensureEndpoint(new LiveServerless({ name: "prov-c" }), ctx)));
    expect(new Set(results.map((r) => r.endpointId)).size).toBe(1);
    expect(results.map((r) => r.action).sort()).toEqual(["created", "reused", "reused"]);
    expect(server.endpoints().filter((e) => e.name === "prov-c")).toHaveLength(1);
    await undeploy("prov-c", ctx);
  });

  it("waits for another process's lock file, and takes over one whose process is gone", async () => {
    const locks = join(stateDir, "locks");
    mkdirSync(locks, { recursive: true });
    const lock = join(locks, "local-prov-d.lock");
    // held by a live process (this one, as far as the file says)
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
    let done = false;
    const pending = ensureEndpoint(new LiveServerless({ name: "prov-d" }), ctx).then((r) => {
      done = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    rmSync(lock);
    expect((await pending).action).toBe("created");

    // a lock of a dead process
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), at: new Date().toISOString() }));
    expect((await ensureEndpoint(new LiveServerless({ name: "prov-d" }), ctx)).action).toBe("reused");
    expect(existsSync(lock)).toBe(false);
    await undeploy("prov-d", ctx);
  });

  it("GraphQL errors become ProvisioningError with the server's message", async () => {
    const input = new LiveServerless({ name: "prov-e" }).endpointInput(env);
    await expect(ctx.graphql.saveEndpoint({ ...input, gpuIds: "NOT_A_POOL" })).rejects.toThrow(/saveEndpoint "prov-e" failed: .*NOT_A_POOL/);
    const broken = { ...ctx, graphql: new GraphqlClient(`${server.url}/nope`, undefined, "no key", { retry: { maxRetries: 0 } }) };
    await expect(ensureEndpoint(new LiveServerless({ name: "prov-f" }), broken)).rejects.toBeInstanceOf(ProvisioningError);
  });
});
