/**
 * Provisioning: makes sure a resource has an endpoint with its current settings, through
 * RunPod's GraphQL management API (runpod-reference.md section 4) or the local server's copy.
 *
 * Per resource name, under a lock file (concurrent deploys of one name queue):
 * - the state file names an endpoint that still exists remotely and the settings hash matches: reuse;
 * - it exists but the hash differs: `saveEndpoint` with its `id` (update in place);
 * - it was deleted remotely, or the state entry is missing: an endpoint of the same name found in
 *   `myself { endpoints }` is adopted and updated (so a lost state file leaks nothing), else a new
 *   one is created.
 * Only the env the resource names is sent; the template is inline.
 */
import { z } from "zod";
import { EndpointSettingsInputShape, fieldMask, LISTED_ENDPOINT_FIELDS, SAVED_ENDPOINT_FIELDS, selection } from "../protocol/runpod-endpoint.ts";
import { AuthenticationError, FerryError, ProvisioningError } from "./errors.ts";
import type { EndpointInput, Resource } from "./resources.ts";
import { ResourceState, withFileLock, type StateEntry } from "./state.ts";
import type { TargetKind } from "./target.ts";
import { HttpClient, type RetryPolicy } from "./transport.ts";

export const SAVE_ENDPOINT = `mutation saveEndpoint($input: EndpointInput!) {
  saveEndpoint(input: $input) {
    ${selection(SAVED_ENDPOINT_FIELDS)}
  }
}`;
export const DELETE_ENDPOINT = `mutation deleteEndpoint($id: String!) {
  deleteEndpoint(id: $id)
}`;
export const LIST_ENDPOINTS = `query myEndpoints {
  myself {
    endpoints {
      ${selection(LISTED_ENDPOINT_FIELDS)}
    }
  }
}`;

/** An endpoint as the list answers it; answers of `saveEndpoint` carry more fields, kept as they come. */
const RemoteEndpointSchema = z
  .object({ id: z.string(), ...EndpointSettingsInputShape })
  .pick(fieldMask(LISTED_ENDPOINT_FIELDS))
  .passthrough();
export type RemoteEndpoint = z.infer<typeof RemoteEndpointSchema>;

const GraphqlAnswerSchema = z.object({
  data: z.unknown().optional(),
  errors: z.array(z.object({ message: z.string() }).passthrough()).nullish(),
});

export class GraphqlClient {
  private readonly http: HttpClient;
  constructor(
    readonly url: string,
    apiKey: string | undefined,
    keySource: string,
    options: { fetch?: typeof fetch | undefined; retry?: Partial<RetryPolicy> | undefined } = {},
  ) {
    this.http = new HttpClient(apiKey, keySource, options);
  }

  /**
   * One GraphQL request. `idempotent` says whether sending it twice does no more than once
   * (queries, updates by id, deletes): only then is it retried after failures that may come
   * after the server took it.
   */
  async request(query: string, variables: Record<string, unknown> = {}, what = "GraphQL request", idempotent = false): Promise<unknown> {
    let answer: unknown;
    try {
      answer = await this.http.request("POST", this.url, { body: { query, variables }, idempotent });
    } catch (error) {
      if (error instanceof AuthenticationError) throw error;
      throw new ProvisioningError(`${what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    const parsed = GraphqlAnswerSchema.safeParse(answer);
    if (!parsed.success) throw new ProvisioningError(`${what}: ${this.url} answered something that is not GraphQL`);
    if (parsed.data.errors?.length) throw new ProvisioningError(`${what} failed: ${parsed.data.errors.map((e) => e.message).join("; ")}`);
    return parsed.data.data;
  }

  /** With `id` an update in place (safe to repeat); without, a create: a repeat would make a second endpoint. */
  async saveEndpoint(input: EndpointInput & { id?: string }): Promise<RemoteEndpoint> {
    const data = (await this.request(SAVE_ENDPOINT, { input }, `saveEndpoint "${input.name}"`, input.id !== undefined)) as { saveEndpoint?: unknown } | null;
    const parsed = RemoteEndpointSchema.safeParse(data?.saveEndpoint);
    if (!parsed.success) throw new ProvisioningError(`saveEndpoint "${input.name}" answered no endpoint id`, { resource: input.name });
    return parsed.data;
  }

  async deleteEndpoint(id: string): Promise<void> {
    await this.request(DELETE_ENDPOINT, { id }, `deleteEndpoint ${id}`, true);
  }

  async listEndpoints(): Promise<RemoteEndpoint[]> {
    const data = (await this.request(LIST_ENDPOINTS, {}, "listing endpoints (myself { endpoints })", true)) as { myself?: { endpoints?: unknown } } | null;
    const parsed = z.array(RemoteEndpointSchema).safeParse(data?.myself?.endpoints ?? []);
    if (!parsed.success) throw new ProvisioningError("listing endpoints: the answer is not a list of endpoints");
    return parsed.data;
  }
}

export interface ProvisionContext {
  graphql: GraphqlClient;
  target: TargetKind;
  stateDir: string;
  env?: NodeJS.ProcessEnv;
}

export type DeployAction = "created" | "reused" | "updated" | "recreated" | "adopted";

export interface DeployResult {
  name: string;
  endpointId: string;
  action: DeployAction;
}

/** RunPod may suffix the name of a FlashBoot endpoint; either spelling is the same resource. */
function sameName(remote: string | null | undefined, name: string): boolean {
  return remote === name || remote === `${name}-fb`;
}

export async function ensureEndpoint(resource: Resource, ctx: ProvisionContext): Promise<DeployResult> {
  const env = ctx.env ?? process.env;
  const state = new ResourceState(ctx.stateDir);
  return withFileLock(ctx.stateDir, `${ctx.target}-${resource.name}`, async () => {
    const input = resource.endpointInput(env);
    const hash = resource.configHash(env);
    const entry = await state.get(ctx.target, resource.name);
    const remote = await ctx.graphql.listEndpoints();
    const tracked = entry ? remote.find((e) => e.id === entry.endpointId) : undefined;
    const now = new Date().toISOString();
    const record = async (endpointId: string, action: DeployAction): Promise<DeployResult> => {
      const next: StateEntry = {
        endpointId,
        hash,
        kind: resource.kind,
        image: input.template.imageName,
        deployedAt: action === "created" || action === "recreated" || !entry ? now : entry.deployedAt,
        updatedAt: now,
      };
      if (action !== "reused" || !entry) await state.update(ctx.target, resource.name, next);
      return { name: resource.name, endpointId, action };
    };
    try {
      if (tracked && entry) {
        if (entry.hash === hash) return await record(entry.endpointId, "reused");
        const saved = await ctx.graphql.saveEndpoint({ ...input, id: entry.endpointId });
        return await record(saved.id, "updated");
      }
      const sameNamed = remote.find((e) => sameName(e.name, resource.name));
      if (sameNamed) {
        const saved = await ctx.graphql.saveEndpoint({ ...input, id: sameNamed.id });
        return await record(saved.id, "adopted");
      }
      const saved = await ctx.graphql.saveEndpoint(input);
      return await record(saved.id, entry ? "recreated" : "created");
    } catch (error) {
      if (error instanceof FerryError && !(error instanceof ProvisioningError)) throw error;
      throw new ProvisioningError(`deploying "${resource.name}": ${error instanceof Error ? error.message : String(error)}`, { resource: resource.name, cause: error });
    }
  });
}

/** Deletes the endpoint deployed for `name` and its state entry. False when nothing was deployed under that name. */
export async function undeploy(name: string, ctx: ProvisionContext): Promise<{ name: string; endpointId: string | undefined; deleted: boolean }> {
  const state = new ResourceState(ctx.stateDir);
  return withFileLock(ctx.stateDir, `${ctx.target}-${name}`, async () => {
    const entry = await state.get(ctx.target, name);
    const remote = await ctx.graphql.listEndpoints();
    const ids = new Set<string>();
    if (entry && remote.some((e) => e.id === entry.endpointId)) ids.add(entry.endpointId);
    // An endpoint of that name that the state file lost track of goes too: nothing left billing.
    for (const e of remote) if (sameName(e.name, name)) ids.add(e.id);
    for (const id of ids) await ctx.graphql.deleteEndpoint(id);
    if (entry) await state.update(ctx.target, name, undefined);
    return { name, endpointId: entry?.endpointId ?? [...ids][0], deleted: ids.size > 0 || entry !== undefined };
  });
}

export interface DeploymentRow {
  name: string;
  endpointId: string | undefined;
  /** tracked: in the state file and remote; missing: in the state file only; untracked: remote only. */
  status: "tracked" | "missing" | "untracked";
  kind: string | undefined;
  updatedAt: string | undefined;
  gpuIds: string | null | undefined;
  workers: string | undefined;
}

/** The state file joined with the remote list. Untracked rows are remote endpoints whose name no state entry has. */
export async function listDeployments(ctx: ProvisionContext): Promise<DeploymentRow[]> {
  const entries = await new ResourceState(ctx.stateDir).entries(ctx.target);
  const remote = await ctx.graphql.listEndpoints();
  const rows: DeploymentRow[] = [];
  const seen = new Set<string>();
  for (const [name, entry] of Object.entries(entries).sort(([a], [b]) => a.localeCompare(b))) {
    const match = remote.find((e) => e.id === entry.endpointId);
    if (match) seen.add(match.id);
    rows.push({
      name,
      endpointId: entry.endpointId,
      status: match ? "tracked" : "missing",
      kind: entry.kind,
      updatedAt: entry.updatedAt,
      gpuIds: match?.gpuIds,
      workers: match ? `${match.workersMin ?? 0}-${match.workersMax ?? "?"}` : undefined,
    });
  }
  for (const e of remote) {
    if (seen.has(e.id)) continue;
    rows.push({ name: e.name ?? "", endpointId: e.id, status: "untracked", kind: undefined, updatedAt: undefined, gpuIds: e.gpuIds, workers: `${e.workersMin ?? 0}-${e.workersMax ?? "?"}` });
  }
  return rows;
}
