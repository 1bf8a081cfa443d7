/**
 * The part of RunPod's management GraphQL schema that RunPod's clients use (runpod-python,
 * runpod-flash, Ferry's SDK), with RunPod's type and field names. Anything not here is answered
 * with graphql-js's standard validation errors, as RunPod answers an unknown field.
 */
import { buildSchema, type GraphQLSchema } from "graphql";

export const RUNPOD_SCHEMA_SDL = /* GraphQL */ `
  "Any JSON value (a template's free-form config)."
  scalar JSON

  enum FlashBootType {
    FLASHBOOT
    OFF
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
    name: String
    imageName: String
    containerDiskInGb: Int
    volumeInGb: Int
    volumeMountPath: String
    dockerArgs: String
    env: [EnvironmentVariable]
    ports: String
    startScript: String
    isServerless: Boolean
    advancedStart: Boolean
    containerRegistryAuthId: String
    isPublic: Boolean
    readme: String
  }

  input PodTemplateInput {
    id: String
    name: String
    imageName: String
    containerDiskInGb: Int
    volumeInGb: Int
    volumeMountPath: String
    dockerArgs: String
    env: [EnvironmentVariableInput]
    ports: String
    startScript: String
    isServerless: Boolean
    advancedStart: Boolean
    config: JSON
    containerRegistryAuthId: String
    startSsh: Boolean
    startJupyter: Boolean
    isPublic: Boolean
    readme: String
    category: String
  }

  type Endpoint {
    id: String!
    name: String
    templateId: String
    template: PodTemplate
    gpuIds: String
    gpuCount: Int
    workersMin: Int
    workersMax: Int
    workersStandby: Int
    workersPFBTarget: Int
    idleTimeout: Int
    scalerType: String
    scalerValue: Int
    executionTimeoutMs: Int
    networkVolumeId: String
    networkVolume: NetworkVolume
    locations: String
    allowedCudaVersions: String
    instanceIds: [String]
    type: String
    version: Int
    flashBootType: FlashBootType
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
    name: String
    templateId: String
    template: PodTemplateInput
    gpuIds: String
    gpuCount: Int
    workersMin: Int
    workersMax: Int
    workersPFBTarget: Int
    idleTimeout: Int
    scalerType: String
    scalerValue: Int
    executionTimeoutMs: Int
    networkVolumeId: String
    locations: String
    allowedCudaVersions: String
    instanceIds: [String]
    type: String
    flashBootType: FlashBootType
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
