/**
 * The progress events of whole calls through the SDK, the local endpoint server and its real
 * worker: a cold call (a worker starts), a warm one, one that installs a package from a local
 * PEP 503 index, one that downloads a model from a local hub, a failing install and a
 * cancelled call. Live log lines carry their stream and worker id from the first line on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelledError, configure, LiveServerless, remote, RemoteError, type ProgressEvent, type RemoteLogLine } from "../../sdk/index.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";
import { startFakeHfHub, type FakeHfHub } from "../helpers/fake-hf-hub.ts";
import { startPep503Index, type Pep503Index } from "../helpers/pep503-index.ts";
import { buildWheel } from "../helpers/wheels.ts";
import { smallModelFiles } from "../hf/fixtures.ts";

let server: LocalServer;
let index: Pep503Index;
let hub: FakeHfHub;
let dir: string;

const PY = `
import sys, time, logging

def hello(name):
    print(f"hello {name}")
    sys.stderr.write("to stderr\\n")
    logging.getLogger("demo").warning("a warning")
    return name

def spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(0.02)
    return "finished"

def version():
    import ferry_progress_pkg
    return ferry_progress_pkg.__version__

def files(repo):
    import os
    root = os.path.join(os.environ["HF_HUB_CACHE"], "models--" + repo.replace("/", "--"))
    return sorted(os.listdir(os.path.join(root, "snapshots")))
`;

const gpu = new LiveServerless({ name: "progress-it", workersMax: 1, idleTimeout: 300 });
const py = remote(gpu);
const withPackage = remote(gpu, { dependencies: ["ferry-progress-pkg==1.0"] });
const withMissingPackage = remote(gpu, { dependencies: ["ferry-progress-absent==9.9"] });
const withModel = remote(gpu, { hfModels: ["acme/progress-model"] });

/** Runs one call, collecting its progress events and log lines. */
async function watched<T>(run: (onProgress: (e: ProgressEvent) => void, onLog: (l: RemoteLogLine) => void) => Promise<T>) {
  const events: ProgressEvent[] = [];
  const logs: RemoteLogLine[] = [];
  let error: unknown;
  let value: T | undefined;
  try {
    value = await run((e) => events.push(e), (l) => logs.push(l));
  } catch (e) {
    error = e;
  }
  const phases = events.map((e) => e.phase).filter((p, i, all) => p !== all[i - 1]);
  return { events, logs, phases, error, value };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-progress-"));
  index = await startPep503Index([buildWheel({ name: "ferry-progress-pkg", version: "1.0" })]);
  hub = await startFakeHfHub();
  hub.addRepo("acme/progress-model", smallModelFiles("progress"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FERRY_VENV: join(dir, "venv"),
    PIP_INDEX_URL: index.url,
    UV_INDEX_URL: index.url,
    PIP_CACHE_DIR: join(dir, "pip-cache"),
    UV_CACHE_DIR: join(dir, "uv-cache"),
    HF_ENDPOINT: hub.url,
    HF_HUB_CACHE: join(dir, "hf"),
  };
  delete env.PIP_EXTRA_INDEX_URL;
  server = await startLocalServer({ stateDir: join(dir, "state"), persistEndpoints: false, env });
  await configure({ localUrl: server.url, stateDir: join(dir, "state"), quiet: true, onLog: false, onProgress: false });
}, 120_000);

afterAll(async () => {
  await configure({ quiet: true });
  await server?.close();
  await index?.close();
  await hub?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("progress events of a call", () => {
  it("a cold call: queued, waiting for a starting worker, started, running, done; its log lines keep stream and worker", async () => {
    const hello = py.function<[name: string], string>(PY, "hello");
    const run = await watched((onProgress, onLog) => hello.with({ onProgress, onLog })("cold"));
    expect(run.error).toBeUndefined();
    expect(run.phases[0]).toBe("queued");
    expect(run.phases).toContain("waiting-for-worker");
    expect(run.phases.slice(-3)).toEqual(["started", "running", "done"]);
    const started = run.events.find((e) => e.phase === "started") as Extract<ProgressEvent, { phase: "started" }>;
    const done = run.events.at(-1) as Extract<ProgressEvent, { phase: "done" }>;
    expect(done).toMatchObject({ outcome: "completed", label: "hello", jobId: expect.any(String) });
    expect(done.timings?.executeMs).toBeGreaterThanOrEqual(0);
    const source = `hello @ ${started.workerId}`;
    expect(run.logs.map((l) => [l.stream, l.line, l.source])).toEqual([
      ["stdout", "hello cold", source],
      ["stderr", "to stderr", source],
      ["log", "WARNING demo: a warning", source],
    ]);
  });

  it("a warm call: started, running, done, with no wait for a worker", async () => {
    const hello = py.function<[name: string], string>(PY, "hello");
    const run = await watched((onProgress, onLog) => hello.with({ onProgress, onLog })("warm"));
    expect(run.error).toBeUndefined();
    expect(run.phases.filter((p) => p !== "queued")).toEqual(["started", "running", "done"]);
    expect(run.logs[0]).toMatchObject({ stream: "stdout", line: "hello warm", source: expect.stringMatching(/^hello @ \S+/) });
  });

  it("a call that installs a package: the set, readable installer lines, installed, then running", async () => {
    const version = withPackage.function<[], string>(PY, "version");
    const run = await watched((onProgress) => version.with({ onProgress })());
    expect(run.error).toBeUndefined();
    expect(run.value).toBe("1.0");
    expect(run.phases).toEqual(expect.arrayContaining(["started", "installing", "running", "done"]));
    expect(run.phases.indexOf("installing")).toBeLessThan(run.phases.indexOf("running"));
    const installing = run.events.filter((e): e is Extract<ProgressEvent, { phase: "installing" }> => e.phase === "installing");
    expect(installing[0]).toMatchObject({ tool: "pip", packages: ["ferry-progress-pkg==1.0"] });
    expect(installing.some((e) => /Successfully installed ferry-progress-pkg-1.0|\+ ferry-progress-pkg/.test(e.line ?? ""))).toBe(true);
    expect(installing.at(-1)).toMatchObject({ done: true });
    // Condensed: no index chatter or blank lines.
    expect(installing.filter((e) => e.line !== undefined && (!e.line.trim() || /Looking in indexes/.test(e.line)))).toEqual([]);
    const done = run.events.at(-1) as Extract<ProgressEvent, { phase: "done" }>;
    expect(done.timings?.installMs).toBeGreaterThan(0);
  }, 120_000);

  it("a call that downloads a model: bytes per repo up to the total, then running", async () => {
    const files = withModel.function<[repo: string], string[]>(PY, "files");
    const run = await watched((onProgress) => files.with({ onProgress })("acme/progress-model"));
    expect(run.error).toBeUndefined();
    expect(run.value).toHaveLength(1);
    const downloads = run.events.filter((e): e is Extract<ProgressEvent, { phase: "downloading" }> => e.phase === "downloading");
    expect(downloads.length).toBeGreaterThan(0);
    const last = downloads.at(-1)!;
    expect(last.repo).toBe("acme/progress-model");
    expect(last.bytesTotal).toBeGreaterThan(4 * 1024 * 1024);
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(run.phases.indexOf("downloading")).toBeLessThan(run.phases.indexOf("running"));
  }, 120_000);

  it("a failing install: installing, then done as failed with the installer's error, and the code never runs", async () => {
    const hello = withMissingPackage.function<[name: string], string>(PY, "hello");
    const run = await watched((onProgress) => hello.with({ onProgress })("never"));
    expect(run.error).toBeInstanceOf(Error);
    expect(run.phases).toContain("installing");
    expect(run.phases).not.toContain("running");
    expect(run.events.at(-1)).toMatchObject({ phase: "done", outcome: "failed", error: expect.stringMatching(/DependencyInstallError|ferry-progress-absent/) });
  }, 120_000);

  it("a cancelled call: running, then done as cancelled", async () => {
    const spin = py.function<[seconds: number], string>(PY, "spin");
    const controller = new AbortController();
    const run = await watched((onProgress) =>
      spin.with({
        signal: controller.signal,
        onProgress: (e) => {
          onProgress(e);
          if (e.phase === "running") controller.abort();
        },
      })(30),
    );
    expect(run.error).toBeInstanceOf(CancelledError);
    expect(run.phases.slice(-2)).toEqual(["running", "done"]);
    expect(run.events.at(-1)).toMatchObject({ phase: "done", outcome: "cancelled" });
  });
});

describe("tracebacks", () => {
  it("name the file the code came from, relative to the working directory, with its lines", async () => {
    const divide = py.fromFile<[value: number], number>(join(import.meta.dirname, "fixtures", "failing.py"), "divide");
    const error = await divide(0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    const traceback = (error as RemoteError).traceback;
    expect(traceback).toContain('File "tests/progress/fixtures/failing.py", line 6, in divide\n    return helper(value) * 2');
    expect(traceback).toContain('File "tests/progress/fixtures/failing.py", line 3, in helper\n    return 10 / value');
  });

  it("name inline code after its function", async () => {
    const inline = py.function<[], never>("def explode():\n    raise KeyError('missing')", "explode");
    const error = (await inline().catch((e: unknown) => e)) as RemoteError;
    expect(error.traceback).toContain('File "<explode>", line 2, in explode');
  });
});
