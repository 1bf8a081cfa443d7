/**
 * The part of RunPod's management GraphQL schema that RunPod's clients use (runpod-python,
 * runpod-flash, Ferry's SDK), with RunPod's type and field names. Anything not here is answered
 * with graphql-js's standard validation errors, as RunPod answers an unknown field.
 */
import { buildSchema, type GraphQLSchema } from "graphql";
import { z } from "zod";
import { ENDPOINT_SETTING_KEYS, EndpointSettingsSchema, FlashBootTypeSchema, type EndpointSettingKey } from "../../protocol/runpod-endpoint.ts";

/** Settings RunPod types as a GraphQL enum; its other enumerated settings (scalerType) are plain strings there. */
const GRAPHQL_ENUMS: Partial<Record<EndpointSettingKey, string>> = { flashBootType: "FlashBootType" };

function graphqlType(schema: z.ZodType, key: EndpointSettingKey): string {
  if (schema instanceof z.ZodNullable) return graphqlType(schema.unwrap() as z.ZodType, key);
  if (schema instanceof z.ZodString) return "String";
  if (schema instanceof z.ZodNumber) return "Int";
  if (schema instanceof z.ZodEnum) return GRAPHQL_ENUMS[key] ?? "String";
  if (schema instanceof z.ZodArray) return `[${graphqlType(schema.element as z.ZodType, key)}]`;
  throw new Error(`endpoint setting ${key} has no GraphQL type`);
}

/** The endpoint's settings as GraphQL field lines, the same in the `Endpoint` type and the `EndpointInput`. */
const ENDPOINT_SETTING_FIELDS = ENDPOINT_SETTING_KEYS.map((key) => `    ${key}: ${graphqlType(EndpointSettingsSchema.shape[key], key)}`).join("\n");

/** A template's fields as both its type and its input show them (GraphQL keeps output and input types apart). */
const TEMPLATE_FIELDS = [
  "name: String",
  "imageName: String",
  "containerDiskInGb: Int",
  "volumeInGb: Int",
  "volumeMountPath: String",
  "dockerArgs: String",
  "ports: String",
  "startScript: String",
  "isServerless: Boolean",
  "advancedStart: Boolean",
  "containerRegistryAuthId: String",
  "isPublic: Boolean",
  "readme: String",
]
  .map((line) => `    ${line}`)
  .join("\n");

export const RUNPOD_SCHEMA_SDL = /* GraphQL */ `
  "Any JSON value (a template's free-form config)."
  scalar JSON

  enum FlashBootType {
    ${FlashBootTypeSchema.options.join("\n    ")}
  }

  type EnvironmentVariable {
    key: String!
    value: String
  }

  input EnvironmentVariableInput {
    key: String!
    value: String
  }

  type NetworkVolume {
    id: String!
    name: String
    size: Int
    dataCenterId: String
  }

  type PodTemplate {
    id: String!
    env: [EnvironmentVariable]
${TEMPLATE_FIELDS}
  }

  input PodTemplateInput {
    id: String
    env: [EnvironmentVariableInput]
${TEMPLATE_FIELDS}
    config: JSON
    startSsh: Boolean
    startJupyter: Boolean
    category: String
  }

  type Endpoint {
    id: String!
${ENDPOINT_SETTING_FIELDS}
    template: PodTemplate
    workersStandby: Int
    workersPFBTarget: Int
    networkVolume: NetworkVolume
    version: Int
    flashEnvironmentId: String
    activeBuildid: String
    idePodId: String
    computeType: String
    env: [EnvironmentVariable]
    aiKey: String
    userId: String
    createdAt: String
  }

  input EndpointInput {
    id: String
${ENDPOINT_SETTING_FIELDS}
    template: PodTemplateInput
    workersPFBTarget: Int
    flashEnvironmentId: String
    computeType: String
  }

  input UpdateEndpointTemplateInput {
    endpointId: String!
    templateId: String!
  }

  type User {
    id: String
    email: String
    endpoints: [Endpoint]
    networkVolumes: [NetworkVolume]
    podTemplates: [PodTemplate]
  }

  type Query {
    myself: User
  }

  type Mutation {
    saveEndpoint(input: EndpointInput!): Endpoint
    deleteEndpoint(id: String!): Boolean
    saveTemplate(input: PodTemplateInput): PodTemplate
    updateEndpointTemplate(input: UpdateEndpointTemplateInput): Endpoint
  }
`;

export function runpodSchema(): GraphQLSchema {
  return buildSchema(RUNPOD_SCHEMA_SDL);
}
