/**
 * Resource configs: what endpoint a remote function runs on. Field names and defaults are
 * RunPod's (runpod-reference.md section 4), so a setting reads the same here, in RunPod's
 * console and in its GraphQL API. Units are in the names where RunPod's are not obvious:
 * `idleTimeout` is seconds (RunPod's unit), `executionTimeoutMs` milliseconds.
 *
 * Every resource built in a process is registered, so `ferry deploy file.ts` can provision
 * what a module declares by importing it.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { envProblems } from "../protocol/request-rules.ts";
import { CPU_FLAVOURS, ENDPOINT_DEFAULTS, GPU_POOL_IDS, ScalerTypeSchema, type EndpointSettings, type GpuPoolId } from "../protocol/runpod-endpoint.ts";
import { BlobStoreSettingSchema } from "./blobs/blob-store-options.ts";
import { ConfigError } from "./errors.ts";
import { didYouMean, parseOptions } from "./options.ts";
import { VERSION } from "./version.ts";

/** RunPod GPU pools. `ANY` stands for every pool. */
export const GpuGroup = {
  ANY: "any",
  /** RTX 4090 */
  ADA_24: "ADA_24",
  /** RTX 5090 */
  ADA_32_PRO: "ADA_32_PRO",
  /** L40, L40S, RTX 6000 Ada */
  ADA_48_PRO: "ADA_48_PRO",
  /** H100 */
  ADA_80_PRO: "ADA_80_PRO",
  /** A4000-class */
  AMPERE_16: "AMPERE_16",
  /** A5000, L4, RTX 3090 */
  AMPERE_24: "AMPERE_24",
  /** A40, A6000 */
  AMPERE_48: "AMPERE_48",
  /** A100 */
  AMPERE_80: "AMPERE_80",
  /** H200 */
  HOPPER_141: "HOPPER_141",
  BLACKWELL_96: "BLACKWELL_96",
  BLACKWELL_180: "BLACKWELL_180",
} as const satisfies Record<string, GpuPoolId | "any">;
export type GpuGroup = (typeof GpuGroup)[keyof typeof GpuGroup];

/** RunPod CPU flavours: `cpu<generation><g general | c compute>-<vCPUs>-<GiB>`. */
export const CpuInstanceType = {
  CPU3G_1_4: "cpu3g-1-4",
  CPU3G_2_8: "cpu3g-2-8",
  CPU3G_4_16: "cpu3g-4-16",
  CPU3G_8_32: "cpu3g-8-32",
  CPU3C_1_2: "cpu3c-1-2",
  CPU3C_2_4: "cpu3c-2-4",
  CPU3C_4_8: "cpu3c-4-8",
  CPU3C_8_16: "cpu3c-8-16",
  CPU5C_1_2: "cpu5c-1-2",
  CPU5C_2_4: "cpu5c-2-4",
  CPU5C_4_8: "cpu5c-4-8",
  CPU5C_8_16: "cpu5c-8-16",
} as const;
export type CpuInstanceType = (typeof CpuInstanceType)[keyof typeof CpuInstanceType];

const GPU_POOLS: readonly string[] = GPU_POOL_IDS;

/** Ferry's worker images; FERRY_GPU_IMAGE / FERRY_CPU_IMAGE replace them, a resource's `imageName` wins over both. */
export const DEFAULT_GPU_IMAGE = `ferry/worker:${VERSION}`;
export const DEFAULT_CPU_IMAGE = `ferry/worker-cpu:${VERSION}`;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const commonShape = {
  /** Endpoint name; also the key in `.ferry/resources.json`. */
  name: z.string().regex(NAME, "must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"),
  workersMin: z.number().int().min(0).default(ENDPOINT_DEFAULTS.workersMin),
  workersMax: z.number().int().min(0).default(ENDPOINT_DEFAULTS.workersMax),
  /** Seconds a worker stays up with no jobs. */
  idleTimeout: z.number().int().min(1).max(3600).default(ENDPOINT_DEFAULTS.idleTimeout),
  executionTimeoutMs: z.number().int().positive().optional(),
  networkVolumeId: z.string().min(1).optional(),
  /** Only these variables reach the endpoint; nothing from the local environment is copied. */
  env: z
    .record(z.string(), z.string())
    .superRefine((env, ctx) => {
      for (const problem of envProblems(env)) ctx.addIssue({ code: "custom", path: [problem.where.slice("env.".length)], message: problem.reason });
    })
    .default({}),
  locations: z.array(z.string().min(1)).optional(),
  scalerType: ScalerTypeSchema.default(ENDPOINT_DEFAULTS.scalerType),
  scalerValue: z.number().int().positive().default(ENDPOINT_DEFAULTS.scalerValue),
  flashboot: z.boolean().default(true),
  containerDiskInGb: z.number().int().positive().default(64),
  imageName: z.string().min(1).optional(),
  /**
   * Where this resource's calls keep values over the blob threshold: an S3-compatible bucket, or
   * `false` for none (every value inline). Wins over `configure({ blobStore })` and FERRY_BLOB_S3_*;
   * a caller's setting, never sent to the endpoint.
   */
  blobStore: BlobStoreSettingSchema.optional(),
};

const gpuIdsSchema = z
  .array(z.string())
  .min(1)
  .default([GpuGroup.ANY])
  .superRefine((ids, ctx) => {
    for (const [i, id] of ids.entries()) {
      // "-NVIDIA GeForce RTX 4090" excludes one GPU type from its pool.
      if (id === GpuGroup.ANY || id.startsWith("-") || GPU_POOLS.includes(id)) continue;
      ctx.addIssue({ code: "custom", path: [i], message: `unknown GPU pool "${id}"${didYouMean(id, GPU_POOLS)}` });
    }
  });

const instanceIdsSchema = z
  .array(z.string())
  .min(1)
  .superRefine((ids, ctx) => {
    for (const [i, id] of ids.entries()) {
      if (!CPU_FLAVOURS.includes(id)) ctx.addIssue({ code: "custom", path: [i], message: `unknown CPU flavour "${id}"${didYouMean(id, CPU_FLAVOURS)}` });
    }
  });

const gpuShape = {
  ...commonShape,
  gpuIds: gpuIdsSchema,
  gpuCount: z.number().int().min(1).max(8).default(ENDPOINT_DEFAULTS.gpuCount),
  allowedCudaVersions: z.array(z.string().regex(/^\d+\.\d+$/, 'must look like "12.4"')).optional(),
};

const LiveServerlessSchema = z.object(gpuShape);
const CpuLiveServerlessSchema = z.object({ ...commonShape, instanceIds: instanceIdsSchema.default([CpuInstanceType.CPU3C_2_4]) });
const ServerlessEndpointSchema = z.object({
  ...gpuShape,
  imageName: z.string().min(1),
  instanceIds: instanceIdsSchema.optional(),
  dockerArgs: z.string().optional(),
});

/** Settings of a {@link LiveServerless} GPU endpoint. */
export type LiveServerlessOptions = z.input<typeof LiveServerlessSchema>;
/** Settings of a {@link CpuLiveServerless} CPU endpoint. */
export type CpuLiveServerlessOptions = z.input<typeof CpuLiveServerlessSchema>;
/** Settings of a {@link ServerlessEndpoint} (an endpoint running your own image). */
export type ServerlessEndpointOptions = z.input<typeof ServerlessEndpointSchema>;

type Common = z.output<z.ZodObject<typeof commonShape>>;

/** The resolved settings of any resource (GPU fields empty for CPU). */
export interface ResourceConfig extends Common {
  gpuIds: string[];
  gpuCount: number;
  allowedCudaVersions?: string[] | undefined;
  instanceIds?: string[] | undefined;
  dockerArgs?: string | undefined;
}

/** Settings Ferry sends only when the resource sets them (RunPod's defaults stand otherwise). */
type SentWhenSet = "executionTimeoutMs" | "networkVolumeId" | "locations" | "allowedCudaVersions" | "instanceIds";

/** The `input` of RunPod's `saveEndpoint` mutation (without `id`): the endpoint's settings and its template inline. */
export type EndpointInput = Omit<EndpointSettings, "templateId" | SentWhenSet> & { [K in SentWhenSet]?: NonNullable<EndpointSettings[K]> } & {
  template: {
    name: string;
    imageName: string;
    containerDiskInGb: number;
    env: { key: string; value: string }[];
    dockerArgs: string;
    ports: string;
  };
};

export type ResourceKind = "gpu" | "cpu" | "endpoint";

const REGISTRY_KEY = Symbol.for("ferry.resources");
type Registry = Map<string, Resource[]>;
function registry(): Registry {
  const holder = globalThis as { [REGISTRY_KEY]?: Registry };
  return (holder[REGISTRY_KEY] ??= new Map());
}

/** Every resource constructed in this process, by name (what `ferry deploy` provisions). */
export function declaredResources(): Resource[] {
  return [...registry().values()].flatMap((list) => list);
}

/** Where remote code runs: one serverless endpoint, provisioned on first use (or by `deploy`). */
export abstract class Resource {
  readonly name: string;
  readonly kind: ResourceKind;
  readonly config: Readonly<ResourceConfig>;

  protected constructor(kind: ResourceKind, config: ResourceConfig) {
    if (config.workersMin > config.workersMax)
      throw new ConfigError(`${this.constructor.name} "${config.name}": workersMin (${config.workersMin}) is larger than workersMax (${config.workersMax})`);
    this.kind = kind;
    this.name = config.name;
    this.config = Object.freeze(config);
    const list = registry().get(this.name) ?? [];
    list.push(this);
    registry().set(this.name, list);
  }

  /** The image the endpoint runs: the resource's `imageName`, else FERRY_GPU_IMAGE / FERRY_CPU_IMAGE, else Ferry's default. */
  image(env: NodeJS.ProcessEnv = process.env): string {
    if (this.config.imageName) return this.config.imageName;
    if (this.kind === "cpu") return env.FERRY_CPU_IMAGE || DEFAULT_CPU_IMAGE;
    return env.FERRY_GPU_IMAGE || DEFAULT_GPU_IMAGE;
  }

  /**
   * What `saveEndpoint` receives. Lists are sorted so that the same settings in another order
   * give the same input (and the same hash): no false drift.
   */
  endpointInput(env: NodeJS.ProcessEnv = process.env): EndpointInput {
    const c = this.config;
    const isCpu = c.instanceIds !== undefined && c.instanceIds.length > 0;
    const gpuIds = c.gpuIds.includes(GpuGroup.ANY) ? [...GPU_POOLS, ...c.gpuIds.filter((g) => g.startsWith("-"))] : c.gpuIds;
    const input: EndpointInput = {
      name: c.name,
      gpuIds: isCpu ? "" : [...new Set(gpuIds)].sort().join(","),
      gpuCount: isCpu ? 0 : c.gpuCount,
      workersMin: c.workersMin,
      workersMax: c.workersMax,
      idleTimeout: c.idleTimeout,
      scalerType: c.scalerType,
      scalerValue: c.scalerValue,
      type: "QB",
      flashBootType: c.flashboot ? "FLASHBOOT" : "OFF",
      template: {
        name: "",
        imageName: this.image(env),
        containerDiskInGb: c.containerDiskInGb,
        env: Object.keys(c.env)
          .sort()
          .map((key) => ({ key, value: c.env[key]! })),
        dockerArgs: c.dockerArgs ?? "",
        ports: "",
      },
    };
    if (c.executionTimeoutMs !== undefined) input.executionTimeoutMs = c.executionTimeoutMs;
    if (c.networkVolumeId !== undefined) input.networkVolumeId = c.networkVolumeId;
    if (c.locations?.length) input.locations = [...c.locations].sort().join(",");
    if (!isCpu && c.allowedCudaVersions?.length) input.allowedCudaVersions = [...c.allowedCudaVersions].sort().join(",");
    if (isCpu) input.instanceIds = [...new Set(c.instanceIds)].sort();
    // The template name carries the settings' hash: a changed image or env is a new template.
    input.template.name = `ferry-${c.name}-${configHash(input).slice(0, 10)}`;
    return input;
  }

  /** Hash of what the user set (as the endpoint input, sorted); runtime fields never enter it. */
  configHash(env: NodeJS.ProcessEnv = process.env): string {
    return configHash(this.endpointInput(env));
  }
}

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .filter((k) => obj[k] !== undefined)
        .map((k) => [k, stable(obj[k])]),
    );
  }
  return value;
}

export function configHash(input: EndpointInput): string {
  const { template, ...rest } = input;
  const hashed = { ...rest, template: { ...template, name: undefined } };
  return createHash("sha256").update(JSON.stringify(stable(hashed))).digest("hex");
}

/**
 * A GPU endpoint running Ferry's worker image: ships your Python per call, no image to build.
 *
 * @example
 * ```ts
 * const gpu = new LiveServerless({ name: "embed", gpuIds: [GpuGroup.ADA_24], workersMax: 2, idleTimeout: 60 });
 * const py = remote(gpu, { dependencies: ["torch"] });
 * ```
 */
export class LiveServerless extends Resource {
  constructor(options: LiveServerlessOptions) {
    const name = typeof (options as { name?: unknown })?.name === "string" ? ` "${(options as { name: string }).name}"` : "";
    const c = parseOptions(LiveServerlessSchema, options, `LiveServerless${name}`);
    super("gpu", { ...c });
  }
}

/** A CPU endpoint running Ferry's CPU worker image. */
export class CpuLiveServerless extends Resource {
  constructor(options: CpuLiveServerlessOptions) {
    const name = typeof (options as { name?: unknown })?.name === "string" ? ` "${(options as { name: string }).name}"` : "";
    const c = parseOptions(CpuLiveServerlessSchema, options, `CpuLiveServerless${name}`);
    super("cpu", { ...c, gpuIds: [], gpuCount: 0 });
  }
}

/** Your own image built on Ferry's worker image (GPU by default; CPU when `instanceIds` is set). */
export class ServerlessEndpoint extends Resource {
  constructor(options: ServerlessEndpointOptions) {
    const name = typeof (options as { name?: unknown })?.name === "string" ? ` "${(options as { name: string }).name}"` : "";
    const c = parseOptions(ServerlessEndpointSchema, options, `ServerlessEndpoint${name}`);
    super("endpoint", { ...c });
  }
}
