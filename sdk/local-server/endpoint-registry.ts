/**
 * The endpoints the local server knows, with RunPod's field names and defaults, created and
 * updated the way `saveEndpoint` does it. Definitions are written to
 * `<stateDir>/local-endpoints.json` so that a restarted server still answers for the endpoint
 * ids the SDK recorded (jobs are not kept: see README.md). Templates saved on their own
 * (`saveTemplate`) are kept there too; an endpoint that names one by `templateId` gets its image,
 * env and settings, and saving the template again updates the endpoints that use it.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { envEntryProblem } from "../../protocol/request-rules.ts";
import {
  CLEARABLE_SETTINGS,
  CPU_FLAVOURS,
  ENDPOINT_DEFAULTS,
  ENDPOINT_SETTING_KEYS,
  EndpointSettingsInputShape,
  GPU_POOL_IDS,
  type EndpointSettings,
} from "../../protocol/runpod-endpoint.ts";

/** By the shared request rules: a NUL in a value would make every start of the endpoint's workers fail. */
const EnvEntrySchema = z.object({ key: z.string().min(1), value: z.string() }).superRefine((entry, ctx) => {
  const reason = envEntryProblem(entry.key, entry.value);
  if (reason) ctx.addIssue({ code: "custom", path: ["value"], message: reason });
});

export const TemplateInputSchema = z
  .object({
    id: z.string().nullish(),
    name: z.string().nullish(),
    imageName: z.string().nullish(),
    containerDiskInGb: z.number().int().nonnegative().nullish(),
    env: z.array(EnvEntrySchema).nullish(),
    dockerArgs: z.string().nullish(),
    ports: z.string().nullish(),
    startScript: z.string().nullish(),
    volumeInGb: z.number().int().nonnegative().nullish(),
    volumeMountPath: z.string().nullish(),
    isServerless: z.boolean().nullish(),
  })
  .passthrough();
export type TemplateInput = z.input<typeof TemplateInputSchema>;

/** `saveEndpoint(input: EndpointInput!)`. Unknown fields are accepted and ignored. */
export const EndpointInputSchema = z
  .object({
    id: z.string().nullish(),
    template: TemplateInputSchema.nullish(),
    ...EndpointSettingsInputShape,
  })
  .passthrough();
export type EndpointInput = z.input<typeof EndpointInputSchema>;

export interface EndpointTemplate {
  id: string;
  name: string;
  imageName: string;
  containerDiskInGb: number;
  env: { key: string; value: string }[];
  dockerArgs: string;
  ports: string | null;
  startScript: string | null;
  /** Set on templates saved with `saveTemplate` (absent in endpoint files written before). */
  volumeInGb?: number;
  volumeMountPath?: string | null;
  isServerless?: boolean;
}

export interface EndpointConfig extends EndpointSettings {
  id: string;
  template: EndpointTemplate;
  version: number;
  createdAt: string;
}

const withId = <T>() => z.custom<T>((v) => typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "string");
const EndpointFileSchema = z.object({
  version: z.literal(1),
  endpoints: z.array(withId<EndpointConfig>()),
  templates: z.array(withId<EndpointTemplate>()).optional(),
});

/** A `saveEndpoint` input that RunPod would refuse; the message is what GraphQL answers. */
export class EndpointInputError extends Error {
  override name = "EndpointInputError";
}

/** RunPod's ids are 14 lowercase letters and digits. */
function newId(length = 14): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = randomBytes(length);
  let out = "";
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

function checkGpuIds(gpuIds: string): void {
  for (const raw of gpuIds.split(",").map((s) => s.trim()).filter(Boolean)) {
    // A "-" prefix excludes one exact GPU type inside the chosen pools; any name is allowed there.
    if (raw.startsWith("-")) continue;
    if (!(GPU_POOL_IDS as readonly string[]).includes(raw)) {
      throw new EndpointInputError(`gpuIds: unknown GPU pool "${raw}" (known: ${GPU_POOL_IDS.join(", ")})`);
    }
  }
}

function checkInstanceIds(ids: readonly string[]): void {
  for (const id of ids) {
    if (!CPU_FLAVOURS.includes(id)) throw new EndpointInputError(`instanceIds: unknown CPU flavour "${id}" (known: ${CPU_FLAVOURS.join(", ")})`);
  }
}

export interface EndpointRegistryOptions {
  /** File the definitions are kept in; none keeps them in memory only. */
  file?: string;
}

export type EndpointChange = { kind: "created" | "updated" | "deleted"; endpoint: EndpointConfig; previous?: EndpointConfig };

/** An endpoint with RunPod's defaults for every field `saveEndpoint` leaves out; ids and names empty. */
export function endpointDefaults(): EndpointConfig {
  return {
    ...ENDPOINT_DEFAULTS,
    instanceIds: [],
    id: "",
    template: { id: "", name: "", imageName: "", containerDiskInGb: 5, env: [], dockerArgs: "", ports: null, startScript: null },
    version: 0,
    createdAt: "",
  };
}

/**
 * The settings of `base` with those `input` carries: an absent setting keeps its value, and so
 * does `null`, except on the settings null clears.
 */
function mergeSettings(base: EndpointSettings, input: z.output<typeof EndpointInputSchema>): EndpointSettings {
  const merged: Record<string, unknown> = { ...base };
  for (const key of ENDPOINT_SETTING_KEYS) {
    const value = input[key];
    if (value !== undefined && (value !== null || CLEARABLE_SETTINGS.has(key))) merged[key] = value;
  }
  return merged as EndpointSettings;
}

export class EndpointRegistry {
  private readonly endpoints = new Map<string, EndpointConfig>();
  private readonly templates = new Map<string, EndpointTemplate>();
  private readonly listeners = new Set<(change: EndpointChange) => void>();

  constructor(private readonly options: EndpointRegistryOptions = {}) {
    if (options.file) this.load(options.file);
  }

  onChange(listener: (change: EndpointChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(id: string): EndpointConfig | undefined {
    return this.endpoints.get(id);
  }

  list(): EndpointConfig[] {
    return [...this.endpoints.values()];
  }

  /** `saveEndpoint`: creates, or updates in place when `input.id` is set. */
  save(rawInput: unknown): EndpointConfig {
    const parsed = EndpointInputSchema.safeParse(rawInput);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new EndpointInputError(`invalid EndpointInput: ${issue.path.join(".") || "input"}: ${issue.message}`);
    }
    const input = parsed.data;
    if (input.gpuIds) checkGpuIds(input.gpuIds);
    if (input.instanceIds) checkInstanceIds(input.instanceIds);
    const previous = input.id ? this.endpoints.get(input.id) : undefined;
    if (input.id && !previous) throw new EndpointInputError(`Endpoint ${input.id} not found`);

    const base: EndpointConfig = previous ?? this.defaults(input);
    const template = this.mergeTemplate(base.template, input.template ?? undefined, input.templateId ?? undefined);
    const next: EndpointConfig = {
      ...base,
      ...mergeSettings(base, input),
      templateId: template.id,
      template,
      version: previous ? previous.version + 1 : 0,
    };
    if (!next.name) throw new EndpointInputError("name is required");
    if (next.workersMin > next.workersMax) {
      throw new EndpointInputError(`workersMin (${next.workersMin}) cannot be greater than workersMax (${next.workersMax})`);
    }
    this.endpoints.set(next.id, next);
    this.persist();
    this.emit(previous ? { kind: "updated", endpoint: next, previous } : { kind: "created", endpoint: next });
    return next;
  }

  templateList(): EndpointTemplate[] {
    return [...this.templates.values()];
  }

  /**
   * `saveTemplate`: creates, or updates in place when `input.id` is set; endpoints using an
   * updated template take its new settings (and their workers are replaced when its env changed).
   */
  saveTemplate(rawInput: unknown): EndpointTemplate {
    const parsed = TemplateInputSchema.safeParse(rawInput);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new EndpointInputError(`invalid PodTemplateInput: ${issue.path.join(".") || "input"}: ${issue.message}`);
    }
    const input = parsed.data;
    const previous = input.id ? this.templates.get(input.id) : undefined;
    if (input.id && !previous) throw new EndpointInputError(`Template ${input.id} not found`);
    const base: EndpointTemplate = previous ?? { ...endpointDefaults().template, id: newId(10), volumeInGb: 0, volumeMountPath: null, isServerless: false };
    const template: EndpointTemplate = {
      ...this.mergeTemplate(base, input, base.id),
      volumeInGb: input.volumeInGb ?? base.volumeInGb ?? 0,
      volumeMountPath: input.volumeMountPath !== undefined ? input.volumeMountPath : (base.volumeMountPath ?? null),
      isServerless: input.isServerless ?? base.isServerless ?? false,
    };
    if (!template.name) throw new EndpointInputError("name is required");
    if (!template.imageName) throw new EndpointInputError("imageName is required");
    this.templates.set(template.id, template);
    for (const endpoint of this.list().filter((e) => e.templateId === template.id)) {
      const next = { ...endpoint, template: { ...template }, version: endpoint.version + 1 };
      this.endpoints.set(next.id, next);
      this.emit({ kind: "updated", endpoint: next, previous: endpoint });
    }
    this.persist();
    return template;
  }

  /** `deleteEndpoint`: true when it existed. */
  delete(id: string): boolean {
    const endpoint = this.endpoints.get(id);
    if (!endpoint) return false;
    this.endpoints.delete(id);
    this.persist();
    this.emit({ kind: "deleted", endpoint });
    return true;
  }

  private defaults(input: z.output<typeof EndpointInputSchema>): EndpointConfig {
    if (!input.template && !input.templateId) throw new EndpointInputError("templateId or template is required");
    const endpoint = endpointDefaults();
    endpoint.id = newId();
    endpoint.name = input.name ?? "";
    const saved = input.templateId ? this.templates.get(input.templateId) : undefined;
    if (saved) endpoint.template = { ...saved };
    endpoint.template.id = input.templateId ?? newId(10);
    endpoint.template.name = input.template?.name ?? (saved?.name || input.name) ?? "";
    endpoint.gpuIds = input.instanceIds?.length ? "" : "AMPERE_16";
    endpoint.createdAt = new Date().toISOString();
    return endpoint;
  }

  private mergeTemplate(
    current: EndpointTemplate,
    input: z.output<typeof TemplateInputSchema> | undefined,
    templateId: string | undefined,
  ): EndpointTemplate {
    const id = templateId ?? current.id;
    // Naming another saved template switches to that template's settings.
    const saved = id !== current.id ? this.templates.get(id) : undefined;
    if (saved) current = saved;
    if (!input) return { ...current, id };
    return {
      id,
      name: input.name ?? current.name,
      imageName: input.imageName ?? current.imageName,
      containerDiskInGb: input.containerDiskInGb ?? current.containerDiskInGb,
      env: input.env ?? current.env,
      dockerArgs: input.dockerArgs ?? current.dockerArgs,
      ports: input.ports !== undefined ? input.ports : current.ports,
      startScript: input.startScript !== undefined ? input.startScript : current.startScript,
    };
  }

  private emit(change: EndpointChange): void {
    for (const listener of this.listeners) listener(change);
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return;
    }
    const parsed = EndpointFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${file} is not a Ferry local endpoints file; move it away to start fresh`);
    for (const endpoint of parsed.data.endpoints) this.endpoints.set(endpoint.id, endpoint);
    for (const template of parsed.data.templates ?? []) this.templates.set(template.id, template);
  }

  private persist(): void {
    const file = this.options.file;
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: 1, endpoints: this.list(), templates: this.templateList() }, null, 2) + "\n");
    renameSync(tmp, file);
  }
}
