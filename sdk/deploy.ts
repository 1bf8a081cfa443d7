/**
 * Programmatic deploy, undeploy and health: what the CLI runs, for scripts that manage
 * endpoints themselves.
 */
import { ConfigError } from "./errors.ts";
import { listDeployments, ensureEndpoint, undeploy, type DeployResult, type DeploymentRow } from "./provisioning.ts";
import { declaredResources, type Resource } from "./resources.ts";
import { getRuntime } from "./runtime.ts";
import { ResourceState } from "./state.ts";
import { EndpointClient, type HealthCheck } from "./transport.ts";

/** Provisions these resources (default: every resource declared in this process). */
export async function deploy(resources: Resource[] = declaredResources()): Promise<DeployResult[]> {
  const byName = new Map<string, Resource>();
  const ctx = await getRuntime().provisionContext();
  for (const r of resources) {
    const other = byName.get(r.name);
    if (other && other.configHash(ctx.env) !== r.configHash(ctx.env))
      throw new ConfigError(`two resources are named "${r.name}" with different settings; give each endpoint its own name`);
    byName.set(r.name, r);
  }
  const results: DeployResult[] = [];
  for (const r of byName.values()) results.push(await ensureEndpoint(r, ctx));
  return results;
}

/** Deletes the endpoint deployed under `name` and its state entry. */
export async function undeployResource(name: string): Promise<{ name: string; endpointId: string | undefined; deleted: boolean }> {
  return undeploy(name, await getRuntime().provisionContext());
}

/** Every deployed endpoint: the state file joined with the target's own list. */
export async function deployments(): Promise<DeploymentRow[]> {
  return listDeployments(await getRuntime().provisionContext());
}

/** `/health` of the endpoint deployed under `name`. */
export async function endpointHealth(name: string): Promise<{ endpointId: string; health: HealthCheck }> {
  const runtime = getRuntime();
  const target = await runtime.target();
  const entry = await new ResourceState(target.stateDir).get(target.kind, name);
  let endpointId = entry?.endpointId;
  if (!endpointId) {
    const remote = await target.graphql.listEndpoints();
    endpointId = remote.find((e) => e.name === name || e.name === `${name}-fb`)?.id;
  }
  if (!endpointId) throw new ConfigError(`no endpoint named "${name}" is deployed on ${target.kind} (see \`ferry ls\`)`);
  const client = new EndpointClient({ baseUrl: target.endpointBaseUrl, endpointId, apiKey: target.apiKey, keySource: target.keySource, fetch: runtime.options.fetch });
  return { endpointId, health: await client.health() };
}
