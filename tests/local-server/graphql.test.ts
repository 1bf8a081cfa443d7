/**
 * POST /graphql on graphql-js: every operation RunPod's clients send, written here with the
 * fields those clients select (the field names are facts of RunPod's API: runpod-python's
 * get_endpoints / create_endpoint / create_template / update_endpoint_template, runpod-flash's
 * saveEndpoint / deleteEndpoint), answered in RunPod's shapes; standard validation errors for
 * anything else; Ferry's own provisioning queries validated against the same schema.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, validate } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runpodSchema } from "../../sdk/local-server/graphql-schema.ts";
import { startLocalServer } from "../../sdk/local-server/server.ts";
import { DELETE_ENDPOINT, LIST_ENDPOINTS, SAVE_ENDPOINT as SDK_SAVE_ENDPOINT } from "../../sdk/provisioning.ts";
import { CpuLiveServerless, LiveServerless } from "../../sdk/resources.ts";
import { SAVE_ENDPOINT, endpointInput, startTestServer, type TestServer } from "./helpers.ts";

const LIST = "query { myself { endpoints { id name gpuIds workersMin workersMax idleTimeout templateId } } }";

/** runpod-python 1.12 `get_endpoints` (runpod/api/queries/endpoints.py). */
const PY_GET_ENDPOINTS = `query Query {
  myself {
    endpoints {
      aiKey gpuIds id idleTimeout name networkVolumeId locations scalerType scalerValue templateId
      type userId version workersMax workersMin workersStandby gpuCount
      env { key value }
      createdAt
      networkVolume { id dataCenterId }
    }
  }
}`;

/** runpod-python `create_template` (runpod/api/mutations/templates.py), inline literals as it writes them. */
const PY_CREATE_TEMPLATE = `mutation {
  saveTemplate(
    input: {
      name: "py-template", imageName: "runpod/worker:1", dockerArgs: "", containerDiskInGb: 10, volumeInGb: 0,
      ports: "", env: [{ key: "GREETING", value: "hi" }], isServerless: true, containerRegistryAuthId : "",
      startSsh: true, isPublic: false, readme: ""
    }
  ) {
    id name imageName dockerArgs containerDiskInGb volumeInGb volumeMountPath ports
    env { key value }
    isServerless
  }
}`;

/** runpod-python `create_endpoint` (runpod/api/mutations/endpoints.py) with flashboot. */
const pyCreateEndpoint = (templateId: string) => `mutation {
  saveEndpoint(
    input: {
      flashBootType: FLASHBOOT, name: "py-endpoint", templateId: "${templateId}", gpuIds: "AMPERE_16",
      networkVolumeId: "", locations: "", idleTimeout: 5, scalerType: "QUEUE_DELAY", scalerValue: 4,
      workersMin: 0, workersMax: 3, gpuCount: 1
    }
  ) {
    id name templateId gpuIds networkVolumeId locations idleTimeout scalerType scalerValue
    workersMin workersMax allowedCudaVersions gpuCount flashBootType
  }
}`;

/** runpod-python `update_endpoint_template`. */
const pyUpdateEndpointTemplate = (endpointId: string, templateId: string) =>
  `mutation { updateEndpointTemplate(input: {templateId: "${templateId}", endpointId: "${endpointId}"}) { id templateId } }`;

/** runpod-flash 1.1 `save_endpoint` (src/runpod_flash/core/api/runpod.py). */
const FLASH_SAVE_ENDPOINT = `mutation saveEndpoint($input: EndpointInput!) {
  saveEndpoint(input: $input) {
    aiKey gpuIds id idleTimeout locations name networkVolumeId flashEnvironmentId scalerType scalerValue
    templateId type userId version workersMax workersMin workersStandby workersPFBTarget gpuCount
    allowedCudaVersions executionTimeoutMs instanceIds activeBuildid idePodId
  }
}`;
const FLASH_DELETE_ENDPOINT = `mutation deleteEndpoint($id: String!) {
  deleteEndpoint(id: $id)
}`;
/** What runpod-flash's ServerlessResource.model_dump sends for a GPU endpoint (input-only fields excluded). */
const flashInput = {
  executionTimeoutMs: 0,
  gpuCount: 1,
  idleTimeout: 5,
  name: "flash-endpoint",
  scalerType: "QUEUE_DELAY",
  scalerValue: 4,
  type: "QB",
  workersMax: 3,
  workersMin: 0,
  workersPFBTarget: 0,
  allowedCudaVersions: "",
  gpuIds: "AMPERE_48",
  template: {
    advancedStart: false,
    config: {},
    containerDiskInGb: 64,
    containerRegistryAuthId: "",
    dockerArgs: "",
    env: [{ key: "LOG_LEVEL", value: "INFO" }],
    imageName: "runpod/flash:1.1.0",
    name: "flash-endpoint__template",
    ports: "",
    startScript: "",
  },
};

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
    expect(endpoint).toEqual({
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

  it("reads inline literal inputs, aliases, variables with defaults, fragments and nested template fields", async () => {
    const inline = await t.gql(`mutation {
      made: saveEndpoint(input: { name: "inline", gpuIds: "ADA_24", workersMax: 1, scalerType: "REQUEST_COUNT",
        template: { name: "tpl", imageName: "img:1", env: [{ key: "K", value: "v \\"q\\"" }] } }) {
        id scalerType ...templateParts __typename
      }
    }
    fragment templateParts on Endpoint { template { name env { key value } } }`);
    expect(inline.errors).toBeUndefined();
    expect(inline.data.made).toMatchObject({ scalerType: "REQUEST_COUNT", template: { name: "tpl", env: [{ key: "K", value: 'v "q"' }] }, __typename: "Endpoint" });
    const byVar = await t.gql(`mutation deleteEndpoint($id: String! = "${inline.data.made.id}") { deleteEndpoint(id: $id) }`);
    expect(byVar).toEqual({ data: { deleteEndpoint: null } });
  });

  it("runpod-python: create_template, create_endpoint on it, get_endpoints, update_endpoint_template", async () => {
    const template = await t.gql(PY_CREATE_TEMPLATE);
    expect(template.errors).toBeUndefined();
    expect(template.data.saveTemplate).toEqual({
      id: expect.stringMatching(/^[a-z0-9]{10}$/),
      name: "py-template",
      imageName: "runpod/worker:1",
      dockerArgs: "",
      containerDiskInGb: 10,
      volumeInGb: 0,
      volumeMountPath: null,
      ports: "",
      env: [{ key: "GREETING", value: "hi" }],
      isServerless: true,
    });
    const templateId = template.data.saveTemplate.id;

    const created = await t.gql(pyCreateEndpoint(templateId));
    expect(created.errors).toBeUndefined();
    expect(created.data.saveEndpoint).toEqual({
      id: expect.stringMatching(/^[a-z0-9]{14}$/),
      name: "py-endpoint",
      templateId,
      gpuIds: "AMPERE_16",
      networkVolumeId: "",
      locations: "",
      idleTimeout: 5,
      scalerType: "QUEUE_DELAY",
      scalerValue: 4,
      workersMin: 0,
      workersMax: 3,
      allowedCudaVersions: null,
      gpuCount: 1,
      flashBootType: "FLASHBOOT",
    });
    const endpointId = created.data.saveEndpoint.id;
    // The endpoint runs the saved template: its image and env.
    expect(t.server.endpoints().find((e) => e.id === endpointId)!.template).toMatchObject({ imageName: "runpod/worker:1", env: [{ key: "GREETING", value: "hi" }] });

    const listed = await t.gql(PY_GET_ENDPOINTS);
    expect(listed.errors).toBeUndefined();
    expect(listed.data.myself.endpoints.find((e: { id: string }) => e.id === endpointId)).toEqual({
      aiKey: null,
      gpuIds: "AMPERE_16",
      id: endpointId,
      idleTimeout: 5,
      name: "py-endpoint",
      networkVolumeId: "",
      locations: "",
      scalerType: "QUEUE_DELAY",
      scalerValue: 4,
      templateId,
      type: "QB",
      userId: "local",
      version: 0,
      workersMax: 3,
      workersMin: 0,
      workersStandby: 0,
      gpuCount: 1,
      env: [{ key: "GREETING", value: "hi" }],
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      networkVolume: null,
    });

    const other = await t.gql(PY_CREATE_TEMPLATE.replace('"py-template"', '"py-template-2"').replace('value: "hi"', 'value: "hello"'));
    const switched = await t.gql(pyUpdateEndpointTemplate(endpointId, other.data.saveTemplate.id));
    expect(switched).toEqual({ data: { updateEndpointTemplate: { id: endpointId, templateId: other.data.saveTemplate.id } } });
    expect(t.server.endpoints().find((e) => e.id === endpointId)!.template.env).toEqual([{ key: "GREETING", value: "hello" }]);

    // Saving the template again updates the endpoint that uses it.
    await t.gql(`mutation { saveTemplate(input: { id: "${other.data.saveTemplate.id}", env: [{ key: "GREETING", value: "hey" }] }) { id } }`);
    expect(t.server.endpoints().find((e) => e.id === endpointId)!.template.env).toEqual([{ key: "GREETING", value: "hey" }]);
    await t.gql(FLASH_DELETE_ENDPOINT, { id: endpointId });
  });

  it("runpod-flash: saveEndpoint with its input and selection, then deleteEndpoint", async () => {
    const saved = await t.gql(FLASH_SAVE_ENDPOINT, { input: flashInput });
    expect(saved.errors).toBeUndefined();
    expect(saved.data.saveEndpoint).toEqual({
      aiKey: null,
      gpuIds: "AMPERE_48",
      id: expect.stringMatching(/^[a-z0-9]{14}$/),
      idleTimeout: 5,
      locations: null,
      name: "flash-endpoint",
      networkVolumeId: null,
      flashEnvironmentId: null,
      scalerType: "QUEUE_DELAY",
      scalerValue: 4,
      templateId: expect.any(String),
      type: "QB",
      userId: "local",
      version: 0,
      workersMax: 3,
      workersMin: 0,
      workersStandby: 0,
      workersPFBTarget: 0,
      gpuCount: 1,
      allowedCudaVersions: "",
      executionTimeoutMs: 0,
      instanceIds: [],
      activeBuildid: null,
      idePodId: null,
    });
    const id = saved.data.saveEndpoint.id;
    expect(t.server.endpoints().find((e) => e.id === id)!.template).toMatchObject({ imageName: "runpod/flash:1.1.0", env: [{ key: "LOG_LEVEL", value: "INFO" }] });
    expect(await t.gql(FLASH_DELETE_ENDPOINT, { id })).toEqual({ data: { deleteEndpoint: null } });
  });

  it("answers errors in GraphQL's shape; an unknown field is a validation error and runs nothing", async () => {
    const missing = await t.gql(SAVE_ENDPOINT, { input: { id: "doesnotexist00", name: "x" } });
    expect(missing).toMatchObject({ data: { saveEndpoint: null }, errors: [{ message: "Endpoint doesnotexist00 not found", path: ["saveEndpoint"] }] });

    const invalid = await t.gql(SAVE_ENDPOINT, { input: endpointInput({ workersMin: 3, workersMax: 1 }) });
    expect(invalid.errors[0].message).toMatch(/workersMin \(3\) cannot be greater than workersMax \(1\)/);
    expect((await t.gql(SAVE_ENDPOINT, { input: endpointInput({ gpuIds: "TPU_9000" }) })).errors[0].message).toMatch(/unknown GPU pool "TPU_9000"/);
    expect((await t.gql(SAVE_ENDPOINT, { input: { name: "no template" } })).errors[0].message).toMatch(/templateId or template is required/);
    expect((await t.gql(SAVE_ENDPOINT, { input: endpointInput({ workersMax: "many" }) })).errors[0].message).toMatch(/Variable "\$input" got invalid value "many" at "input.workersMax"; Int cannot represent non-integer value: "many"/);
    expect((await t.gql(SAVE_ENDPOINT, { input: endpointInput({ bogusInput: 1 }) })).errors[0].message).toMatch(/Field "bogusInput" is not defined by type "EndpointInput"/);

    const unknownField = await t.gql("query { myself { endpoints { id bogus } } }");
    expect(unknownField).toEqual({ errors: [{ message: 'Cannot query field "bogus" on type "Endpoint".', locations: [{ line: 1, column: 33 }] }] });
    expect((await t.gql("mutation { saveSomething { id } }")).errors[0].message).toBe('Cannot query field "saveSomething" on type "Mutation".');
    const syntax = await t.gql("mutation { saveEndpoint(input: { name: ");
    expect(syntax.errors[0].message).toMatch(/^Syntax Error/);
    expect((await t.gql(`mutation { deleteEndpoint(id: "nope") }`)).errors[0].message).toBe("Endpoint nope not found");

    // A bad selection changes nothing.
    await t.gql("mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) { id nope } }", { input: endpointInput({ name: "ghost" }) });
    expect((await t.gql(LIST)).data.myself.endpoints.some((e: { name: string }) => e.name === "ghost")).toBe(false);

    const notJson = await t.call("/graphql", { body: "{" });
    expect(notJson.status).toBe(400);
  });
});

describe("Ferry's provisioning queries", () => {
  it("validate against the schema, and the inputs Ferry's resources build are accepted as EndpointInput", async () => {
    const schema = runpodSchema();
    for (const query of [SDK_SAVE_ENDPOINT, DELETE_ENDPOINT, LIST_ENDPOINTS]) expect(validate(schema, parse(query))).toEqual([]);
    for (const resource of [new LiveServerless({ name: "schema-gpu", env: { A: "1" } }), new CpuLiveServerless({ name: "schema-cpu" })]) {
      const answer = await t.gql(SDK_SAVE_ENDPOINT, { input: resource.endpointInput({}) });
      expect(answer.errors).toBeUndefined();
      expect(answer.data.saveEndpoint.name).toBe(resource.endpointInput({}).name);
    }
  });
});
