/**
 * A RunPod serverless endpoint's settings (runpod-reference.md section 4), declared once: the
 * SDK builds its `saveEndpoint` input and reads the answers by these fields, and the local
 * server's GraphQL schema, its input check and its merge of an update into a saved endpoint
 * derive from the same schema. Nullable fields are the ones an update may clear with `null`.
 */
import { z } from "zod";

const count = z.number().int().nonnegative();

/** RunPod's GPU pools, the values of `gpuIds`. */
export const GPU_POOL_IDS = [
  "ADA_24",
  "ADA_32_PRO",
  "ADA_48_PRO",
  "ADA_80_PRO",
  "AMPERE_16",
  "AMPERE_24",
  "AMPERE_48",
  "AMPERE_80",
  "HOPPER_141",
  "BLACKWELL_96",
  "BLACKWELL_180",
] as const;
export type GpuPoolId = (typeof GPU_POOL_IDS)[number];

/** RunPod's CPU flavours, the values of `instanceIds`: `cpu<generation><g general | c compute>-<vCPUs>-<GiB>`. */
export const CPU_FLAVOURS: readonly string[] = ["cpu3g", "cpu3c", "cpu5c"].flatMap((family) =>
  (family === "cpu3g" ? ["1-4", "2-8", "4-16", "8-32"] : ["1-2", "2-4", "4-8", "8-16"]).map((size) => `${family}-${size}`),
);

export const ScalerTypeSchema = z.enum(["QUEUE_DELAY", "REQUEST_COUNT"]);
export const FlashBootTypeSchema = z.enum(["FLASHBOOT", "OFF"]);

/** The endpoint's own settings: what `saveEndpoint` takes (besides `id` and `template`) and the `Endpoint` type answers. */
export const EndpointSettingsSchema = z.object({
  name: z.string(),
  templateId: z.string(),
  /** Comma-separated GPU pool ids; `-<GPU type>` excludes one type. Empty on CPU endpoints. */
  gpuIds: z.string(),
  gpuCount: count,
  workersMin: count,
  workersMax: count,
  /** Seconds a worker may stay idle before it is stopped. */
  idleTimeout: count,
  scalerType: ScalerTypeSchema,
  scalerValue: z.number().int().positive(),
  executionTimeoutMs: count,
  networkVolumeId: z.string().nullable(),
  /** Comma-separated data centre ids. */
  locations: z.string().nullable(),
  /** Comma-separated CUDA versions such as "12.4". */
  allowedCudaVersions: z.string().nullable(),
  /** CPU flavours; empty on GPU endpoints. */
  instanceIds: z.array(z.string()),
  /** `QB`: queue-based. */
  type: z.string(),
  flashBootType: FlashBootTypeSchema,
});
export type EndpointSettings = z.output<typeof EndpointSettingsSchema>;
export type EndpointSettingKey = keyof EndpointSettings;

export const ENDPOINT_SETTING_KEYS = Object.keys(EndpointSettingsSchema.shape) as EndpointSettingKey[];

/** Settings whose `null` in an update clears them (the others keep their value when sent `null`). */
export const CLEARABLE_SETTINGS: ReadonlySet<EndpointSettingKey> = new Set(
  ENDPOINT_SETTING_KEYS.filter((key) => EndpointSettingsSchema.shape[key].safeParse(null).success),
);

/** RunPod's value of each setting `saveEndpoint` leaves out (name and template are the caller's). */
export const ENDPOINT_DEFAULTS: EndpointSettings = {
  name: "",
  templateId: "",
  gpuIds: "",
  gpuCount: 1,
  workersMin: 0,
  workersMax: 3,
  idleTimeout: 5,
  scalerType: "QUEUE_DELAY",
  scalerValue: 4,
  executionTimeoutMs: 600_000,
  networkVolumeId: null,
  locations: null,
  allowedCudaVersions: null,
  instanceIds: [],
  type: "QB",
  flashBootType: "FLASHBOOT",
};

type NullishShape<S extends Record<string, z.ZodType>> = { [K in keyof S]: z.ZodOptional<z.ZodNullable<S[K]>> };

function nullishShape<S extends Record<string, z.ZodType>>(shape: S): NullishShape<S> {
  return Object.fromEntries(Object.entries(shape).map(([key, schema]) => [key, schema.nullish()])) as NullishShape<S>;
}

/** Every setting as an input may carry it: absent or null where the caller leaves it as it is. */
export const EndpointSettingsInputShape = nullishShape(EndpointSettingsSchema.shape);

/** The fields RunPod's clients select from `saveEndpoint`'s answer (runpod-reference.md section 4). */
export const SAVED_ENDPOINT_FIELDS = [
  "id",
  "name",
  "templateId",
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
] as const satisfies readonly (EndpointSettingKey | "id" | "version")[];

/** The fields the endpoint list (`myself { endpoints }`) selects. */
export const LISTED_ENDPOINT_FIELDS = ["id", "name", "gpuIds", "workersMin", "workersMax", "idleTimeout", "templateId"] as const satisfies readonly (
  | EndpointSettingKey
  | "id"
)[];

/** A GraphQL selection set's body: the fields, space-separated. */
export function selection(fields: readonly string[]): string {
  return fields.join(" ");
}

/** `{ field: true }` for each field: the mask zod's `pick` takes. */
export function fieldMask<F extends string>(fields: readonly F[]): { [K in F]: true } {
  return Object.fromEntries(fields.map((field) => [field, true])) as { [K in F]: true };
}
