/**
 * GPU discovery through `nvidia-smi`, the one tool every NVIDIA driver install ships (the
 * NVIDIA container runtime mounts it into containers). Querying it instead of importing torch
 * keeps the worker's start free of a multi-second CUDA initialisation and works whatever the
 * Python side has installed.
 *
 * Nothing here throws: a worker on a CPU machine, or on a GPU whose driver is wedged, must
 * still start and serve; it reports no GPU and says why in the log.
 */
import type { Logger } from "../../protocol/logger.ts";
import { runLoggedSubprocess } from "../subprocess.ts";
import type { GpuInfo } from "../../protocol/wire.ts";

/** The `--query-gpu` fields, in the order `parseNvidiaSmiCsv` reads them. */
export const GPU_QUERY_FIELDS = ["index", "name", "memory.total", "memory.used", "driver_version", "compute_cap"] as const;
/** Drivers older than R510 reject `compute_cap`; the query is retried without it. */
const FIELDS_WITHOUT_COMPUTE_CAP = GPU_QUERY_FIELDS.filter((f) => f !== "compute_cap");

/**
 * A healthy `nvidia-smi` answers in well under a second (a few seconds when persistence mode
 * is off and the driver must initialise); one that takes longer is stuck on a faulty GPU, and
 * the worker must not hang its start on it.
 */
export const DEFAULT_NVIDIA_SMI_TIMEOUT_MS = 15_000;

export interface GpuQueryOptions {
  logger: Logger;
  /**
   * The environment `nvidia-smi` is looked up in (PATH) and runs with. Default: the worker's.
   * Used exactly as given, so a test decides what is on PATH.
   */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ParsedGpuCsv {
  gpus: GpuInfo[];
  /** One readable line per row that could not be read (and is left out of `gpus`). */
  problems: string[];
}

/** What nvidia-smi prints for a value the GPU or driver does not report. */
const NOT_AVAILABLE = /^\[?(N\/A|Not Supported|Unknown Error|Insufficient Permissions|GPU requires reset)\]?$/i;

function optionalText(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const value = raw.trim();
  return value === "" || NOT_AVAILABLE.test(value) ? null : value;
}

/** MiB as an integer; `nounits` drops the " MiB" suffix, but tolerate it in case it is there. */
function optionalMiB(raw: string | undefined): { value: number | null; bad: boolean } {
  const text = optionalText(raw);
  if (text === null) return { value: null, bad: false };
  const match = /^(\d+(?:\.\d+)?)(?:\s*MiB)?$/i.exec(text);
  if (!match) return { value: null, bad: true };
  return { value: Number(match[1]), bad: false };
}

/**
 * Reads `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits` output. Rows that
 * cannot be read are reported in `problems` and skipped; the rest are kept, so one odd line
 * does not hide the GPUs that were described properly.
 */
export function parseNvidiaSmiCsv(text: string, fields: readonly string[] = GPU_QUERY_FIELDS): ParsedGpuCsv {
  const gpus: GpuInfo[] = [];
  const problems: string[] = [];
  const at = (name: string) => fields.indexOf(name);
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  for (const line of lines) {
    let cells = line.split(",").map((c) => c.trim());
    if (cells.length < fields.length) {
      problems.push(`expected ${fields.length} comma-separated fields, got ${cells.length}: ${JSON.stringify(line)}`);
      continue;
    }
    if (cells.length > fields.length) {
      // nvidia-smi does not quote: a comma inside the product name splits it. Every other
      // field is a number or a version, so the surplus belongs to the name.
      const nameAt = at("name");
      const surplus = cells.length - fields.length;
      if (nameAt < 0) {
        problems.push(`expected ${fields.length} comma-separated fields, got ${cells.length}: ${JSON.stringify(line)}`);
        continue;
      }
      cells = [...cells.slice(0, nameAt), cells.slice(nameAt, nameAt + surplus + 1).join(", "), ...cells.slice(nameAt + surplus + 1)];
    }
    const cell = (name: string) => (at(name) >= 0 ? cells[at(name)] : undefined);
    const indexText = cell("index") ?? String(gpus.length);
    if (!/^\d+$/.test(indexText)) {
      problems.push(`GPU index is not a number (${JSON.stringify(indexText)}): ${JSON.stringify(line)}`);
      continue;
    }
    const name = optionalText(cell("name"));
    if (name === null) {
      problems.push(`GPU name is missing: ${JSON.stringify(line)}`);
      continue;
    }
    const total = optionalMiB(cell("memory.total"));
    const used = optionalMiB(cell("memory.used"));
    if (total.bad || used.bad) {
      problems.push(`GPU memory is not a number of MiB: ${JSON.stringify(line)}`);
      continue;
    }
    gpus.push({
      index: Number(indexText),
      name,
      memory_total_mib: total.value,
      memory_used_mib: used.value,
      driver_version: optionalText(cell("driver_version")),
      compute_cap: optionalText(cell("compute_cap")),
    });
  }
  return { gpus, problems };
}

type QueryOutcome =
  | { kind: "ok"; stdout: string; fields: readonly string[] }
  | { kind: "absent"; why: string }
  | { kind: "failed"; why: string };

function firstLine(text: string): string {
  return (
    text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l !== "") ?? ""
  );
}

async function runQuery(fields: readonly string[], operation: string, options: GpuQueryOptions): Promise<QueryOutcome & { retryWithout?: boolean }> {
  const result = await runLoggedSubprocess("nvidia-smi", [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits"], {
    operation,
    timeoutMs: options.timeoutMs ?? DEFAULT_NVIDIA_SMI_TIMEOUT_MS,
    env: options.env ?? process.env,
    replaceEnv: true,
    logger: options.logger,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (result.spawnError !== undefined) return { kind: "absent", why: result.spawnError };
  if (result.timedOut) return { kind: "failed", why: `nvidia-smi did not answer within ${options.timeoutMs ?? DEFAULT_NVIDIA_SMI_TIMEOUT_MS} ms` };
  if (!result.ok) {
    const said = firstLine(result.stdout) || firstLine(result.stderr) || "no output";
    const why = result.exitCode !== null ? `nvidia-smi exited with code ${result.exitCode}: ${said}` : `nvidia-smi was killed by ${result.signal}: ${said}`;
    const rejectedField = /not a valid field/i.test(`${result.stdout}\n${result.stderr}`);
    return { kind: "failed", why, retryWithout: rejectedField && fields.includes("compute_cap") };
  }
  return { kind: "ok", stdout: result.stdout, fields };
}

/** Runs the query, falling back to the field list old drivers accept. */
async function queryGpus(operation: string, options: GpuQueryOptions): Promise<QueryOutcome> {
  const first = await runQuery(GPU_QUERY_FIELDS, operation, options);
  if (first.kind === "failed" && first.retryWithout) {
    options.logger.debug({ operation }, "nvidia-smi rejected compute_cap (driver older than R510); querying without it");
    return runQuery(FIELDS_WITHOUT_COMPUTE_CAP, operation, options);
  }
  return first;
}

function describe(gpu: GpuInfo): string {
  const parts = [
    gpu.memory_total_mib !== null ? `${gpu.memory_total_mib} MiB total` : "total memory unknown",
    gpu.memory_used_mib !== null ? `${gpu.memory_used_mib} MiB used` : "used memory unknown",
    `driver ${gpu.driver_version ?? "unknown"}`,
    `compute capability ${gpu.compute_cap ?? "unknown"}`,
  ];
  return `GPU ${gpu.index}: ${gpu.name} (${parts.join(", ")})`;
}

/**
 * The GPUs this worker sees, one log line each; `[]` on a machine without them. Never throws.
 *
 * `nvidia-smi` lists the GPUs of the container (the NVIDIA runtime exposes only those granted
 * to it); `CUDA_VISIBLE_DEVICES` narrows what the Python child uses further and is logged
 * beside the list rather than applied to it, because CUDA's ordinal order need not match
 * nvidia-smi's.
 */
export async function discoverGpus(options: GpuQueryOptions): Promise<GpuInfo[]> {
  const { logger } = options;
  const outcome = await queryGpus("gpu-discovery", options);
  if (outcome.kind === "absent") {
    logger.info("no nvidia-smi on PATH: no NVIDIA GPU visible, running on CPU");
    return [];
  }
  if (outcome.kind === "failed") {
    logger.warn({ reason: outcome.why }, "GPU discovery failed: running on CPU");
    return [];
  }
  const { gpus, problems } = parseNvidiaSmiCsv(outcome.stdout, outcome.fields);
  for (const problem of problems) logger.warn({ problem }, "GPU discovery: unreadable line from nvidia-smi, skipped");
  if (gpus.length === 0) {
    logger.warn(problems.length > 0 ? "GPU discovery: no readable GPU line from nvidia-smi, running on CPU" : "nvidia-smi lists no GPU: running on CPU");
    return [];
  }
  const visible = (options.env ?? process.env).CUDA_VISIBLE_DEVICES;
  for (const gpu of gpus) logger.info({ gpu, ...(visible !== undefined ? { cuda_visible_devices: visible } : {}) }, describe(gpu));
  return gpus;
}

/**
 * Device-wide GPU memory in use, in MiB, summed over the GPUs the worker sees; null when it
 * cannot be read (no nvidia-smi, a failure, nothing parseable).
 *
 * For the after-call report when the Python child has not imported torch (so cannot say what
 * it holds itself). Device-wide is what can be measured inside a container: nvidia-smi's
 * per-process list shows host PIDs, or nothing, under the container's PID namespace. On a
 * RunPod worker the child is the only GPU user, so the two agree. Failures are logged at
 * debug only: this runs after every call and the cause was already told at discovery.
 */
export async function queryGpuMemoryUsedMiB(options: GpuQueryOptions): Promise<number | null> {
  const outcome = await queryGpus("gpu-memory", { ...options, timeoutMs: options.timeoutMs ?? 5_000 });
  if (outcome.kind !== "ok") {
    options.logger.debug({ reason: outcome.kind === "absent" ? "no nvidia-smi" : outcome.why }, "GPU memory not available");
    return null;
  }
  const { gpus } = parseNvidiaSmiCsv(outcome.stdout, outcome.fields);
  const known = gpus.map((g) => g.memory_used_mib).filter((v): v is number => v !== null);
  if (known.length === 0) return null;
  return known.reduce((a, b) => a + b, 0);
}
