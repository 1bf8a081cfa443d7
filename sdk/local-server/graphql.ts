/**
 * `POST /graphql`: the slice of RunPod's management API that provisioning uses:
 * `saveEndpoint` (create, or update in place when `input.id` is set), `deleteEndpoint`, and
 * `myself { endpoints { ... } }`, with RunPod's field names. Errors take GraphQL's shape,
 * `{errors: [{message}]}` with HTTP 200, as RunPod answers them.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import type { Logger } from "../../protocol/logger.ts";
import { EndpointInputError, endpointDefaults, type EndpointConfig, type EndpointRegistry } from "./endpoint-registry.ts";
import { GraphQLSyntaxError, parseOperation, type GqlField, type GqlValue } from "./graphql-parse.ts";
import { HttpError, MiB, parseJsonBody, readBody, sendJson, validate } from "./http-util.ts";
import { refuseDeepDocument } from "./request-guard.ts";

const GraphQLRequestSchema = z.object({
  query: z.string().min(1),
  variables: z.record(z.string(), z.unknown()).nullish(),
  operationName: z.string().nullish(),
});

type Resolved = unknown;

/** Fields an `Endpoint` answers, by name; anything else is a GraphQL validation error. */
const ENDPOINT_FIELDS = new Set([
  "id",
  "name",
  "templateId",
  "template",
  "gpuIds",
  "gpuCount",
  "workersMin",
  "workersMax",
  "idleTimeout",
  "scalerType",
  "scalerValue",
  "executionTimeoutMs",
  "networkVolumeId",
  "locations",
  "allowedCudaVersions",
  "instanceIds",
  "type",
  "version",
  "flashBootType",
  "workersStandby",
  "userId",
  "createdAt",
]);

const TEMPLATE_FIELDS = new Set(["id", "name", "imageName", "containerDiskInGb", "env", "dockerArgs", "ports", "startScript"]);

class FieldError extends Error {}

function project(value: unknown, field: GqlField, typeName: string, known: Set<string> | undefined): Resolved {
  if (!field.selections) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      throw new FieldError(`Field "${field.name}" of type "${typeName}" must have a selection of subfields.`);
    }
    return value ?? null;
  }
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((item) => project(item, field, typeName, known));
  const record = value as Record<string, unknown>;
  const out: Record<string, Resolved> = {};
  for (const sub of field.selections) {
    if (sub.name === "__typename") {
      out[sub.alias] = typeName;
      continue;
    }
    if (known && !known.has(sub.name)) throw new FieldError(`Cannot query field "${sub.name}" on type "${typeName}".`);
    if (sub.name === "template") out[sub.alias] = project(record.template, sub, "PodTemplate", TEMPLATE_FIELDS);
    else if (sub.name === "env") out[sub.alias] = project(record.env, sub, "EnvironmentVariable", new Set(["key", "value"]));
    else out[sub.alias] = project(record[sub.name] ?? null, sub, "Value", undefined);
  }
  return out;
}

function endpointView(endpoint: EndpointConfig): Record<string, unknown> {
  return { ...endpoint, workersStandby: endpoint.workersMin, userId: "local" };
}

export interface GraphQLApiOptions {
  registry: EndpointRegistry;
  logger: Logger;
}

export class GraphQLApi {
  constructor(private readonly options: GraphQLApiOptions) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") throw new HttpError(405, "POST /graphql only");
    const body = parseJsonBody(await readBody(req, 1 * MiB, "/graphql"));
    const request = validate(GraphQLRequestSchema, body, "GraphQL request");
    refuseDeepDocument(request.query);
    sendJson(res, 200, this.execute(request.query, request.variables ?? {}, request.operationName ?? undefined));
  }

  /** Runs one GraphQL operation; always answers a GraphQL response body. */
  execute(query: string, variables: Record<string, unknown>, operationName?: string): { data?: unknown; errors?: { message: string; path?: string[] }[] } {
    let operation;
    try {
      operation = parseOperation(query, variables, operationName);
    } catch (err) {
      if (err instanceof GraphQLSyntaxError) return { errors: [{ message: err.message }] };
      throw err;
    }
    const rootType = operation.type === "mutation" ? "Mutation" : "Query";
    const known = operation.type === "mutation" ? ["saveEndpoint", "deleteEndpoint"] : ["myself"];
    for (const field of operation.selections) {
      if (!known.includes(field.name) && field.name !== "__typename") {
        return { errors: [{ message: `Cannot query field "${field.name}" on type "${rootType}".` }] };
      }
    }
    const data: Record<string, unknown> = {};
    const errors: { message: string; path?: string[] }[] = [];
    for (const field of operation.selections) {
      try {
        data[field.alias] = this.resolveRoot(field, rootType);
      } catch (err) {
        if (err instanceof FieldError && !(err instanceof ResolverError)) return { errors: [{ message: err.message }] };
        if (err instanceof ResolverError || err instanceof EndpointInputError) {
          data[field.alias] = null;
          errors.push({ message: err.message, path: [field.alias] });
          continue;
        }
        throw err;
      }
    }
    return errors.length ? { data, errors } : { data };
  }

  private resolveRoot(field: GqlField, rootType: string): Resolved {
    const registry = this.options.registry;
    switch (field.name) {
      case "__typename":
        return rootType;
      case "saveEndpoint": {
        const input = field.args.input;
        if (input === undefined || input === null) throw new ResolverError('Field "saveEndpoint" argument "input" of type "EndpointInput!" is required.');
        this.checkSelection(field);
        const endpoint = registry.save(input);
        this.options.logger.info({ endpointId: endpoint.id, name: endpoint.name, version: endpoint.version }, "endpoint saved");
        return project(endpointView(endpoint), field, "Endpoint", ENDPOINT_FIELDS);
      }
      case "deleteEndpoint": {
        const id = field.args.id;
        if (typeof id !== "string" || id === "") throw new ResolverError('Field "deleteEndpoint" argument "id" of type "String!" is required.');
        if (!registry.delete(id)) throw new ResolverError(`Endpoint ${id} not found`);
        this.options.logger.info({ endpointId: id }, "endpoint deleted");
        return null;
      }
      case "myself":
        return this.myself(field);
      default:
        throw new FieldError(`Cannot query field "${field.name}" on type "${rootType}".`);
    }
  }

  /** Validates a selection before the mutation runs, so a bad query changes nothing. */
  private checkSelection(field: GqlField): void {
    project(endpointView(PROBE_ENDPOINT), field, "Endpoint", ENDPOINT_FIELDS);
  }

  private myself(field: GqlField): Resolved {
    if (!field.selections) throw new FieldError('Field "myself" of type "User" must have a selection of subfields.');
    const out: Record<string, Resolved> = {};
    for (const sub of field.selections) {
      switch (sub.name) {
        case "__typename":
          out[sub.alias] = "User";
          break;
        case "id":
          out[sub.alias] = "local";
          break;
        case "email":
          out[sub.alias] = null;
          break;
        case "endpoints": {
          // Validated against a probe too, so a bad field is reported even with no endpoints.
          this.checkSelection(sub);
          const list = this.options.registry.list().map(endpointView);
          out[sub.alias] = project(list, sub, "Endpoint", ENDPOINT_FIELDS);
          break;
        }
        default:
          throw new FieldError(`Cannot query field "${sub.name}" on type "User".`);
      }
    }
    return out;
  }
}

/** An error of one root field: its value becomes null and the message goes to `errors`. */
class ResolverError extends FieldError {}

/**
 * An endpoint of every field, used to check a query's selection against the Endpoint type.
 * One env entry so that selections inside `template { env { ... } }` are checked too.
 */
const PROBE_ENDPOINT: EndpointConfig = (() => {
  const endpoint = endpointDefaults();
  endpoint.template.env = [{ key: "", value: "" }];
  return endpoint;
})();

export type { GqlValue };
