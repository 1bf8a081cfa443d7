/**
 * `POST /graphql`: RunPod's management API for provisioning, run by graphql-js over the endpoint
 * registry: `myself { endpoints networkVolumes podTemplates }`, `saveEndpoint` (create, or update
 * in place when `input.id` is set), `deleteEndpoint`, `saveTemplate`, `updateEndpointTemplate`.
 * Answers take GraphQL's shape, `{data, errors}` with HTTP 200, as RunPod answers them; a query
 * that does not validate against the schema (graphql-schema.ts) runs nothing.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { graphql, type ExecutionResult, type GraphQLSchema } from "graphql";
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import type { EndpointConfig, EndpointRegistry, EndpointTemplate } from "./endpoint-registry.ts";
import { runpodSchema } from "./graphql-schema.ts";
import { HttpError, MiB, parseJsonBody, readBody, sendJson, validate } from "./http-util.ts";
import { refuseDeepDocument } from "./request-guard.ts";

const GraphQLRequestSchema = z.object({
  query: z.string().min(1),
  variables: z.record(z.string(), z.unknown()).nullish(),
  operationName: z.string().nullish(),
});

/** The user every local endpoint belongs to. */
const LOCAL_USER_ID = "local";

/** A template as RunPod's `PodTemplate` type answers it. */
function templateView(template: EndpointTemplate): Record<string, unknown> {
  return {
    volumeInGb: 0,
    volumeMountPath: null,
    isServerless: true,
    advancedStart: false,
    containerRegistryAuthId: null,
    isPublic: false,
    readme: null,
    ...template,
  };
}

/**
 * An endpoint as RunPod's `Endpoint` type answers it. Fields with no local meaning answer as
 * RunPod does for an endpoint without them (no standby pool, no flash environment or build);
 * `aiKey` stays null: the local server hands worker keys to workers only.
 */
function endpointView(endpoint: EndpointConfig): Record<string, unknown> {
  return {
    ...endpoint,
    template: templateView(endpoint.template),
    env: endpoint.template.env,
    workersStandby: endpoint.workersMin,
    workersPFBTarget: 0,
    networkVolume: endpoint.networkVolumeId ? { id: endpoint.networkVolumeId, name: null, size: null, dataCenterId: null } : null,
    flashEnvironmentId: null,
    activeBuildid: null,
    idePodId: null,
    computeType: endpoint.instanceIds.length > 0 ? "CPU" : "GPU",
    aiKey: null,
    userId: LOCAL_USER_ID,
  };
}

export interface GraphQLApiOptions {
  registry: EndpointRegistry;
  logger: Logger;
}

export class GraphQLApi {
  private readonly schema: GraphQLSchema = runpodSchema();
  private readonly root: Record<string, unknown>;

  constructor(private readonly options: GraphQLApiOptions) {
    const { registry, logger } = options;
    // Root fields resolve from here; every nested field reads the property of the same name.
    this.root = {
      myself: () => ({
        id: LOCAL_USER_ID,
        email: null,
        endpoints: () => registry.list().map(endpointView),
        networkVolumes: () => [],
        podTemplates: () => registry.templateList().map(templateView),
      }),
      saveEndpoint: ({ input }: { input: unknown }) => {
        const endpoint = registry.save(input);
        logger.info({ endpointId: endpoint.id, name: endpoint.name, version: endpoint.version }, "endpoint saved");
        return endpointView(endpoint);
      },
      deleteEndpoint: ({ id }: { id: string }) => {
        if (!registry.delete(id)) throw new Error(`Endpoint ${id} not found`);
        logger.info({ endpointId: id }, "endpoint deleted");
        return null;
      },
      saveTemplate: ({ input }: { input: unknown }) => {
        const template = registry.saveTemplate(input ?? {});
        logger.info({ templateId: template.id, name: template.name }, "template saved");
        return templateView(template);
      },
      updateEndpointTemplate: ({ input }: { input: { endpointId: string; templateId: string } | null }) => {
        if (!input) throw new Error('Field "updateEndpointTemplate" wants an input with endpointId and templateId');
        const endpoint = registry.save({ id: input.endpointId, templateId: input.templateId });
        logger.info({ endpointId: endpoint.id, templateId: endpoint.templateId }, "endpoint template changed");
        return endpointView(endpoint);
      },
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") throw new HttpError(405, "POST /graphql only");
    const body = parseJsonBody(await readBody(req, 1 * MiB, "/graphql"));
    const request = validate(GraphQLRequestSchema, body, "GraphQL request");
    refuseDeepDocument(request.query);
    sendJson(res, 200, await this.execute(request.query, request.variables ?? {}, request.operationName ?? undefined));
  }

  /** Runs one GraphQL operation; always answers a GraphQL response body. */
  execute(query: string, variables: Record<string, unknown>, operationName?: string): Promise<ExecutionResult> {
    return graphql({ schema: this.schema, source: query, rootValue: this.root, variableValues: variables, operationName });
  }
}
