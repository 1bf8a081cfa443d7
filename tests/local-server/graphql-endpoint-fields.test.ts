/**
 * The endpoint's field list is declared once (protocol/runpod-endpoint.ts): the local server's
 * GraphQL types, its merge of an update and the SDK's resources all follow it.
 */
import { isInputObjectType, isObjectType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLEARABLE_SETTINGS,
  CPU_FLAVOURS,
  ENDPOINT_DEFAULTS,
  ENDPOINT_SETTING_KEYS,
  GPU_POOL_IDS,
  LISTED_ENDPOINT_FIELDS,
  SAVED_ENDPOINT_FIELDS,
  selection,
} from "../../protocol/runpod-endpoint.ts";
import { runpodSchema } from "../../sdk/local-server/graphql-schema.ts";
import { CpuInstanceType, GpuGroup, LiveServerless } from "../../sdk/resources.ts";
import { endpointInput, startTestServer, type TestServer } from "./helpers.ts";

const ALL_SETTINGS = `mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) { id ${selection(ENDPOINT_SETTING_KEYS)} version } }`;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ longPollMs: 200 });
});
afterAll(async () => {
  await t?.close();
});

describe("the endpoint's fields, declared once", () => {
  it("every setting is a field of the GraphQL Endpoint type and of EndpointInput, with a default", () => {
    const schema = runpodSchema();
    const output = schema.getType("Endpoint");
    const input = schema.getType("EndpointInput");
    if (!isObjectType(output) || !isInputObjectType(input)) throw new Error("Endpoint / EndpointInput missing from the schema");
    for (const key of ENDPOINT_SETTING_KEYS) {
      expect(Object.keys(output.getFields()), key).toContain(key);
      expect(Object.keys(input.getFields()), key).toContain(key);
      expect(ENDPOINT_DEFAULTS, key).toHaveProperty(key);
    }
    expect(String(input.getFields().flashBootType!.type)).toBe("FlashBootType");
    expect(String(output.getFields().instanceIds!.type)).toBe("[String]");
    for (const field of [...SAVED_ENDPOINT_FIELDS, ...LISTED_ENDPOINT_FIELDS]) expect(Object.keys(output.getFields())).toContain(field);
  });

  it("an update keeps what it leaves out, clears only the clearable settings with null, and answers every setting", async () => {
    const created = await t.gql(ALL_SETTINGS, {
      input: endpointInput({ name: "fields", networkVolumeId: "vol1", locations: "EU-RO-1", allowedCudaVersions: "12.4", workersMax: 5, flashBootType: "OFF" }),
    });
    expect(created.errors).toBeUndefined();
    const endpoint = created.data.saveEndpoint;
    expect(endpoint).toMatchObject({ networkVolumeId: "vol1", locations: "EU-RO-1", allowedCudaVersions: "12.4", workersMax: 5, flashBootType: "OFF" });

    const nulls = Object.fromEntries(ENDPOINT_SETTING_KEYS.filter((key) => key !== "templateId").map((key) => [key, null]));
    const updated = await t.gql(ALL_SETTINGS, { input: { id: endpoint.id, ...nulls } });
    expect(updated.errors).toBeUndefined();
    for (const key of ENDPOINT_SETTING_KEYS) {
      expect(updated.data.saveEndpoint[key], key).toEqual(CLEARABLE_SETTINGS.has(key) ? null : endpoint[key]);
    }
    expect([...CLEARABLE_SETTINGS].sort()).toEqual(["allowedCudaVersions", "locations", "networkVolumeId"]);
    expect(updated.data.saveEndpoint.version).toBe(1);
  });

  it("what a resource sends comes back setting for setting", async () => {
    const resource = new LiveServerless({ name: "fields-sdk", gpuIds: [GpuGroup.ADA_24], workersMax: 2, locations: ["US-TX-3"], allowedCudaVersions: ["12.4"], flashboot: false });
    const input = resource.endpointInput({});
    const answer = await t.gql(ALL_SETTINGS, { input });
    expect(answer.errors).toBeUndefined();
    const { template: _template, ...settings } = input;
    expect(answer.data.saveEndpoint).toMatchObject(settings);
  });

  it("the SDK's GPU groups and CPU flavours are RunPod's", () => {
    expect(Object.values(GpuGroup).filter((g) => g !== GpuGroup.ANY).sort()).toEqual([...GPU_POOL_IDS].sort());
    expect(Object.values(CpuInstanceType).sort()).toEqual([...CPU_FLAVOURS].sort());
  });
});
