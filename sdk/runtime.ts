/**
 * The process-wide context that remote functions share: the target (RunPod or local), the
 * local server when this process started one, and each resource's endpoint client, resolved
 * once and reused by every call.
 */
import { ConfigError } from "./errors.ts";
import type { LogHandler } from "./call.ts";
import type { ProgressHandler } from "./progress/events.ts";
import { parseOptions } from "./options.ts";
import { ensureEndpoint, GraphqlClient, type DeployResult, type ProvisionContext } from "./provisioning.ts";
import type { Resource } from "./resources.ts";
import { localNotice, probeLocalServer, resolveTarget, type TargetKind, type TargetSettings } from "./target.ts";
import { EndpointClient, type RetryPolicy } from "./transport.ts";
import { z } from "zod";
import type { BlobStore } from "./blobs/blob-store.ts";
import { BlobStoreSettingSchema, blobStoreKey, blobThreshold, chosenBlobStore, type BlobStoreOptions } from "./blobs/blob-store-options.ts";
import { CallValues } from "./blobs/call-values.ts";
import { InProcessBlobStore } from "./blobs/in-process-blob-store.ts";
import { LocalBlobStore } from "./blobs/local-blob-store.ts";
import { inProcessServer } from "./local-server/in-process-servers.ts";

/** Process-wide settings given to {@link configure}: target, keys, URLs, logs and retries. */
export interface FerryOptions extends TargetSettings {
  /** Where remote log lines go by default: a handler, or false for nowhere. Default: this console. */
  onLog?: LogHandler | false | undefined;
  /** Where calls' progress events go by default: a handler, or false for nowhere. Default: a status line on this console (`FERRY_QUIET=1` silences it). */
  onProgress?: ProgressHandler | false | undefined;
  /** No line saying that calls run locally. */
  quiet?: boolean | undefined;
  /** Retry policy for HTTP (429, 5xx gateways, network errors). */
  retry?: Partial<RetryPolicy> | undefined;
  /** The fetch every HTTP request uses (default: the global one). */
  fetch?: typeof fetch | undefined;
  /** The environment read for defaults (default: process.env). */
  env?: NodeJS.ProcessEnv | undefined;
  /**
   * An S3-compatible bucket for values over the threshold (default from FERRY_BLOB_S3_* variables;
   * a resource's own `blobStore` wins over this); without one, local calls use the local
   * server's store and RunPod calls send values inline. `false`: no store at all, every value inline.
   */
  blobStore?: BlobStoreOptions | false | undefined;
  /** Encoded values over this many bytes travel as blobs (default FERRY_BLOB_THRESHOLD_BYTES, else 1 MB). */
  blobThresholdBytes?: number | undefined;
}

const FerryOptionsSchema = z.object({
  target: z.enum(["local", "runpod"]).optional(),
  apiKey: z.string().min(1).optional(),
  endpointBaseUrl: z.string().url().optional(),
  graphqlUrl: z.string().url().optional(),
  localUrl: z.string().url().optional(),
  localApiKey: z.string().min(1).optional(),
  stateDir: z.string().min(1).optional(),
  onLog: z.union([z.literal(false), z.custom<LogHandler>((v) => typeof v === "function")]).optional(),
  onProgress: z.union([z.literal(false), z.custom<ProgressHandler>((v) => typeof v === "function")]).optional(),
  quiet: z.boolean().optional(),
  retry: z.object({ maxRetries: z.number().int().min(0), baseDelayMs: z.number().min(0), maxDelayMs: z.number().min(0) }).partial().optional(),
  fetch: z.custom<typeof fetch>((v) => typeof v === "function").optional(),
  env: z.record(z.string(), z.string().optional()).optional(),
  blobStore: BlobStoreSettingSchema.optional(),
  blobThresholdBytes: z.number().int().nonnegative().optional(),
});

export interface ConnectedTarget {
  kind: TargetKind;
  endpointBaseUrl: string;
  graphqlUrl: string;
  apiKey: string | undefined;
  keySource: string;
  stateDir: string;
  graphql: GraphqlClient;
  /** Closes the local server this process started (no-op otherwise). */
  close: () => Promise<void>;
}

interface StartedServer {
  url: string;
  close(): Promise<void>;
}

export class Runtime {
  private targetPromise: Promise<ConnectedTarget> | undefined;
  private readonly endpoints = new Map<Resource, Promise<EndpointClient>>();
  private readonly deployed = new Map<Resource, DeployResult>();
  private started: StartedServer | undefined;
  private readonly s3Stores = new Map<string, Promise<BlobStore>>();
  private readonly localStores = new Map<EndpointClient, BlobStore>();

  constructor(readonly options: FerryOptions = {}) {}

  get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env;
  }

  target(): Promise<ConnectedTarget> {
    this.targetPromise ??= this.connect().catch((error: unknown) => {
      this.targetPromise = undefined;
      throw error;
    });
    return this.targetPromise;
  }

  private async connect(): Promise<ConnectedTarget> {
    const spec = resolveTarget(this.options, this.env);
    const retry = this.options.retry;
    if (spec.kind === "runpod") {
      return {
        kind: "runpod",
        endpointBaseUrl: spec.endpointBaseUrl,
        graphqlUrl: spec.graphqlUrl,
        apiKey: spec.apiKey,
        keySource: spec.keySource,
        stateDir: spec.stateDir,
        graphql: new GraphqlClient(spec.graphqlUrl, spec.apiKey, spec.keySource, { fetch: this.options.fetch, retry }),
        close: async () => undefined,
      };
    }
    let url = spec.url;
    if (url && !(await probeLocalServer(url, this.options.fetch))) {
      if (this.options.localUrl ?? this.env.FERRY_LOCAL_URL) throw new ConfigError(`no Ferry local server answers at ${url}`);
      url = undefined; // a stale .ferry/local.json: its server is gone
    }
    if (!url) {
      // Imported here so that a RunPod-only process never loads the local server.
      const [{ startLocalServer }, { createLogger }] = await Promise.all([import("./local-server/server.ts"), import("../protocol/logger.ts")]);
      // The server's warnings and errors (a worker that cannot start) reach this console.
      const logger = createLogger({ level: this.env.FERRY_LOG_LEVEL ?? "warn" });
      const server = await startLocalServer({ stateDir: spec.stateDir, logger, ...(spec.apiKey ? { apiKey: spec.apiKey } : {}) });
      this.started = server;
      url = server.url;
      // A process that started the server must still exit when its own work is done.
      (server as { unref?: () => void }).unref?.();
    }
    if (!this.options.quiet) process.stderr.write(`${localNotice(url, this.started !== undefined)}\n`);
    return {
      kind: "local",
      endpointBaseUrl: `${url}/v2`,
      graphqlUrl: `${url}/graphql`,
      apiKey: spec.apiKey,
      keySource: spec.keySource,
      stateDir: spec.stateDir,
      graphql: new GraphqlClient(`${url}/graphql`, spec.apiKey, spec.keySource, { fetch: this.options.fetch, retry }),
      close: async () => {
        await this.started?.close();
        this.started = undefined;
      },
    };
  }

  async provisionContext(): Promise<ProvisionContext> {
    const t = await this.target();
    return { graphql: t.graphql, target: t.kind, stateDir: t.stateDir, env: this.env };
  }

  /** Provisions `resource` (once per process) and answers its endpoint client. */
  endpoint(resource: Resource): Promise<EndpointClient> {
    let pending = this.endpoints.get(resource);
    if (!pending) {
      pending = (async () => {
        const t = await this.target();
        const result = await ensureEndpoint(resource, await this.provisionContext());
        this.deployed.set(resource, result);
        return new EndpointClient({
          baseUrl: t.endpointBaseUrl,
          endpointId: result.endpointId,
          apiKey: t.apiKey,
          keySource: t.keySource,
          fetch: this.options.fetch,
          retry: this.options.retry,
        });
      })();
      pending.catch(() => this.endpoints.delete(resource));
      this.endpoints.set(resource, pending);
    }
    return pending;
  }

  /** The value handling of one call to `resource`: where large values go, and the caps that apply. */
  async callValues(resource: Resource, streaming: boolean): Promise<CallValues> {
    const t = await this.target();
    const store = await this.blobStore(resource, t);
    return new CallValues({ store, thresholdBytes: blobThreshold(this.options.blobThresholdBytes, this.env), enforceCaps: t.kind === "runpod" }, streaming);
  }

  private async blobStore(resource: Resource, t: ConnectedTarget): Promise<BlobStore | undefined> {
    const s3 = chosenBlobStore(resource.config.blobStore, this.options.blobStore, this.env);
    if (s3 === false) return undefined;
    if (s3) {
      const key = blobStoreKey(s3);
      let store = this.s3Stores.get(key);
      // Imported on first use: a process that never stores a blob in S3 never loads the AWS SDK.
      if (!store) this.s3Stores.set(key, (store = import("./blobs/s3-blob-store.ts").then(({ S3BlobStore }) => new S3BlobStore(s3))));
      return store;
    }
    if (t.kind !== "local") return undefined;
    const client = await this.endpoint(resource);
    let store = this.localStores.get(client);
    if (!store) {
      // A server in this process is reached through its files; one elsewhere over HTTP.
      const here = inProcessServer(t.endpointBaseUrl);
      store = here?.accepts(t.apiKey) ? new InProcessBlobStore(here.blobs) : new LocalBlobStore(t.endpointBaseUrl, client.endpointId, t.apiKey);
      this.localStores.set(client, store);
    }
    return store;
  }

  /** How the resource was provisioned in this process, once it was. */
  deployment(resource: Resource): DeployResult | undefined {
    return this.deployed.get(resource);
  }

  async close(): Promise<void> {
    const t = this.targetPromise;
    this.targetPromise = undefined;
    this.endpoints.clear();
    this.localStores.clear();
    if (t) await (await t.catch(() => undefined))?.close();
  }
}

const RUNTIME_KEY = Symbol.for("ferry.runtime");
type Holder = { [RUNTIME_KEY]?: Runtime };

export function getRuntime(): Runtime {
  const holder = globalThis as Holder;
  return (holder[RUNTIME_KEY] ??= new Runtime());
}

/**
 * Sets where calls go and how (replacing the defaults from the environment). Closes a local
 * server this process started before.
 *
 * @example
 * ```ts
 * await configure({ target: "local", onLog: false }); // run here even when a RunPod key is set, no log lines
 * ```
 */
export async function configure(options: FerryOptions = {}): Promise<void> {
  parseOptions(FerryOptionsSchema, options, "configure()");
  const holder = globalThis as Holder;
  const previous = holder[RUNTIME_KEY];
  holder[RUNTIME_KEY] = new Runtime(options);
  await previous?.close();
}

/** Stops the local server this process started, if any. Calls after it connect again. */
export async function shutdown(): Promise<void> {
  await getRuntime().close();
}
