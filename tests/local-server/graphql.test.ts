/** POST /graphql: saveEndpoint create / update in place, the list query, deleteEndpoint, errors. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer } from "../../sdk/local-server/server.ts";
import { SAVE_ENDPOINT, endpointInput, startTestServer, type TestServer } from "./helpers.ts";

const LIST = "query { myself { endpoints { id name gpuIds workersMin workersMax idleTimeout templateId } } }";

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ longPollMs: 200 });
});
afterAll(async () => {
  await t?.close();
});

describe("GraphQL management API", () => {
  it("creates, updates in place, lists and deletes with RunPod's query strings and field names", async () => {
    const created = await t.gql(SAVE_ENDPOINT, {
      input: endpointInput({ name: "ferry-demo", gpuIds: "ADA_24,AMPERE_48", workersMax: 2, idleTimeout: 7, template: { name: "t", imageName: "img", env: [{ key: "A", value: "1" }] } }),
    });
    expect(created.errors).toBeUndefined();
    const endpoint = created.data.saveEndpoint;
    expect(endpoint).toMatchObject({
      id: expect.stringMatching(/^[a-z0-9]{14}$/),
      name: "ferry-demo",
      templateId: expect.any(String),
      gpuIds: "ADA_24,AMPERE_48",
      gpuCount: 1,
      workersMin: 0,
      workersMax: 2,
      idleTimeout: 7,
      scalerType: "QUEUE_DELAY",
      scalerValue: 4,
      executionTimeoutMs: 600000,
      networkVolumeId: null,
      locations: null,
      allowedCudaVersions: null,
      instanceIds: [],
      type: "QB",
      version: 0,
    });
    expect(Object.keys(endpoint)).toHaveLength(17);

    const updated = await t.gql(SAVE_ENDPOINT, { input: { id: endpoint.id, name: "ferry-demo", workersMax: 4, gpuIds: "AMPERE_80" } });
    expect(updated.data.saveEndpoint).toMatchObject({ id: endpoint.id, workersMax: 4, gpuIds: "AMPERE_80", idleTimeout: 7, templateId: endpoint.templateId, version: 1 });

    const listed = await t.gql(LIST);
    expect(listed.data.myself.endpoints).toEqual([
      { id: endpoint.id, name: "ferry-demo", gpuIds: "AMPERE_80", workersMin: 0, workersMax: 4, idleTimeout: 7, templateId: endpoint.templateId },
    ]);

    // Definitions survive a restart of the server on the same state directory.
    const saved = JSON.parse(readFileSync(join(t.stateDir, "local-endpoints.json"), "utf8"));
    expect(saved.endpoints[0].id).toBe(endpoint.id);
    const again = await startLocalServer({ stateDir: t.stateDir, workerCommand: ["false"] });
    try {
      expect(again.endpoints().map((e) => e.id)).toEqual([endpoint.id]);
    } finally {
      await again.close();
    }

    const deleted = await t.gql(`mutation { deleteEndpoint(id: "${endpoint.id}") }`);
    expect(deleted).toEqual({ data: { deleteEndpoint: null } });
    expect((await t.gql(LIST)).data.myself.endpoints).toEqual([]);
  });

  it("reads inline literal inputs, aliases, variables with defaults and nested template fields", async () => {
    const inline = await t.gql(`mutation {
      made: saveEndpoint(input: { name: "inline", gpuIds: "ADA_24", workersMax: 1, scalerType: REQUEST_COUNT,
        template: { name: "tpl", imageName: "img:1", env: [{ key: "K", value: "v \\"q\\"" }] } }) {
        id scalerType template { name env { key value } } __typename
      }
    }`);
    expect(inline.data.made).toMatchObject({ scalerType: "REQUEST_COUNT", template: { name: "tpl", env: [{ key: "K", value: 'v "q"' }] }, __typename: "Endpoint" });
    const byVar = await t.gql(`mutation deleteEndpoint($id: String! = "${inline.data.made.id}") { deleteEndpoint(id: $id) }`);
    expect(byVar).toEqual({ data: { deleteEndpoint: null } });
  });

  it("answers errors in GraphQL's shape", async () => {
    const missing = await t.gql(SAVE_ENDPOINT, { input: { id: "doesnotexist00", name: "x" } });
    expect(missing).toEqual({ data: { saveEndpoint: null }, errors: [{ message: "Endpoint doesnotexist00 not found", path: ["saveEndpoint"] }] });

    const invalid = await t.gql(SAVE_ENDPOINT, { input: endpointInput({ workersMin: 3, workersMax: 1 }) });
    expect(invalid.errors[0].message).toMatch(/workersMin \(3\) cannot be greater than workersMax \(1\)/);
    expect((await t.gql(SAVE_ENDPOINT, { input: endpointInput({ gpuIds: "TPU_9000" }) })).errors[0].message).toMatch(/unknown GPU pool "TPU_9000"/);
    expect((await t.gql(SAVE_ENDPOINT, { input: { name: "no template" } })).errors[0].message).toMatch(/templateId or template is required/);
    expect((await t.gql(SAVE_ENDPOINT, { input: endpointInput({ workersMax: "many" }) })).errors[0].message).toMatch(/workersMax/);

    const unknownField = await t.gql("query { myself { endpoints { id bogus } } }");
    expect(unknownField).toEqual({ errors: [{ message: 'Cannot query field "bogus" on type "Endpoint".' }] });
    const syntax = await t.gql("mutation { saveEndpoint(input: { name: ");
    expect(syntax.errors[0].message).toMatch(/Syntax Error/);
    expect((await t.gql(`mutation { deleteEndpoint(id: "nope") }`)).errors[0].message).toBe("Endpoint nope not found");

    // A bad selection changes nothing.
    await t.gql("mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) { id nope } }", { input: endpointInput({ name: "ghost" }) });
    expect((await t.gql(LIST)).data.myself.endpoints.some((e: { name: string }) => e.name === "ghost")).toBe(false);

    const notJson = await t.call("/graphql", { body: "{" });
    expect(notJson.status).toBe(400);
  });
});
