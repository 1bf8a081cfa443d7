/**
 * The built image as RunPod runs it: a worker started from the image's entrypoint and command,
 * taking jobs from Ferry's local server on this machine over loopback (the RunPod job API,
 * the variables RunPod injects). Jobs install a pip package from a local PEP 503 index and a
 * Debian package with apt (the image keeps its package lists for that), then use both.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalServer } from "../../sdk/local-server/server.ts";
import { startPep503Index } from "../../tests/helpers/pep503-index.ts";
import { buildWheel } from "../../tests/helpers/wheels.ts";
import type { Buildah } from "./buildah.ts";
import { containerProcesses, signalContainer } from "./container-processes.mjs";
import type { ImageContainer } from "./image-runs.ts";

export interface WorkerJobResult {
  what: string;
  ok: boolean;
  detail: string;
}

export interface WorkerRunReport {
  /** From the worker's start to its first call for jobs. */
  startToReadyMs: number;
  jobs: WorkerJobResult[];
  /** The worker's last output lines, for a failure. */
  outputTail: string[];
}

/** A Debian package with no dependencies beyond libc, small and quick to install. */
export const APT_PROBE = { package: "hello", command: "hello", prints: "Hello, world!" };

const PIP_PROBE = { name: "ferry-image-probe", version: "1.0.0", module: "ferry_image_probe" };

const READY_TIMEOUT_MS = 120_000;
const JOB_TIMEOUT_MS = 300_000;

interface StatusView {
  status?: string;
  output?: { success?: boolean; json_result?: unknown; error?: string; error_type?: string; details?: unknown };
  error?: unknown;
}

async function runSync(endpointUrl: string, input: unknown): Promise<StatusView> {
  const started = Date.now();
  const first = (await (await fetch(`${endpointUrl}/run`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input }) })).json()) as { id: string };
  for (;;) {
    const view = (await (await fetch(`${endpointUrl}/status-sync/${first.id}?wait=30000`)).json()) as StatusView;
    if (view.status && !["IN_QUEUE", "IN_PROGRESS"].includes(view.status)) return view;
    if (Date.now() - started > JOB_TIMEOUT_MS) return { status: "TIMED_OUT (image check)", ...view };
  }
}

function judge(what: string, view: StatusView, expected: unknown): WorkerJobResult {
  const out = view.output;
  if (view.status !== "COMPLETED" || !out?.success) {
    const why = out?.error ? `${out.error_type}: ${String(out.error).split("\n").slice(0, 3).join(" | ")}` : JSON.stringify(view.error ?? view.status);
    return { what, ok: false, detail: `${view.status}: ${why}` };
  }
  const same = JSON.stringify(out.json_result) === JSON.stringify(expected);
  return { what, ok: same, detail: same ? JSON.stringify(out.json_result) : `got ${JSON.stringify(out.json_result)}, expected ${JSON.stringify(expected)}` };
}

export async function runWorkerFromLocalServer(buildah: Buildah, container: ImageContainer, wrapper: string): Promise<WorkerRunReport> {
  const wheel = buildWheel({ name: PIP_PROBE.name, version: PIP_PROBE.version, initSource: `VERSION = "${PIP_PROBE.version}"\n` });
  const index = await startPep503Index([wheel]);
  const stateDir = mkdtempSync(join(tmpdir(), "ferry-image-check-server-"));
  const output: string[] = [];
  const server = await startLocalServer({
    stateDir,
    persistEndpoints: false,
    workerCommand: [process.execPath, wrapper, ...buildah.globalArgs, "--", container.name, container.root, ...container.entrypoint, ...container.cmd],
    env: { PATH: process.env.PATH },
    onWorkerOutput: (line) => {
      output.push(line.line);
      if (output.length > 200) output.shift();
    },
  });
  const startedAt = Date.now();
  const jobs: WorkerJobResult[] = [];
  let startToReadyMs = -1;
  try {
    const endpoint = server.saveEndpoint({
      name: "image-check",
      workersMin: 1,
      workersMax: 1,
      idleTimeout: 300,
      template: { name: "image-check", imageName: "image-check", env: [{ key: "PIP_INDEX_URL", value: index.url }] },
    });
    while (Date.now() - startedAt < READY_TIMEOUT_MS) {
      if (server.health(endpoint.id).workers.ready > 0) {
        startToReadyMs = Date.now() - startedAt;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (startToReadyMs < 0) {
      jobs.push({ what: "worker ready", ok: false, detail: `no call for jobs within ${READY_TIMEOUT_MS} ms` });
    } else {
      const endpointUrl = `${server.endpointBaseUrl}/${endpoint.id}`;
      jobs.push(
        judge(
          `pip install ${PIP_PROBE.name} from a local index`,
          await runSync(endpointUrl, {
            function_name: "probe",
            serialization_format: "json",
            dependencies: [`${PIP_PROBE.name}==${PIP_PROBE.version}`],
            function_code: `def probe():\n    import ${PIP_PROBE.module}\n    return ${PIP_PROBE.module}.VERSION\n`,
          }),
          PIP_PROBE.version,
        ),
      );
      jobs.push(
        judge(
          `apt install ${APT_PROBE.package}`,
          await runSync(endpointUrl, {
            function_name: "probe",
            serialization_format: "json",
            system_dependencies: [APT_PROBE.package],
            function_code: `def probe():\n    import subprocess\n    return subprocess.run(["${APT_PROBE.command}"], capture_output=True, text=True, check=True).stdout.strip()\n`,
          }),
          APT_PROBE.prints,
        ),
      );
      const indexUsed = index.requests.some((p) => p.startsWith("/files/"));
      jobs.push({ what: "the wheel came from the local index", ok: indexUsed, detail: indexUsed ? "fetched" : "never fetched" });
    }
  } finally {
    await server.close();
    // The server stopped its worker (SIGTERM through the wrapper to tini, SIGKILL to the wrapper
    // after a grace period); what still runs in the container did not stop, and goes now.
    const left = containerProcesses(container.root);
    signalContainer(container.root, "SIGKILL");
    jobs.push({ what: "the worker stops on the server's SIGTERM", ok: left.length === 0, detail: left.length === 0 ? "nothing left running in the container" : `${left.length} process(es) left, killed` });
    await index.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
  return { startToReadyMs, jobs, outputTail: output.slice(-30) };
}
