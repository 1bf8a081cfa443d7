// Injection: dependency strings carrying installer options or shell syntax, apt names with
// options, model ids that climb out of the cache, `modules` paths that escape the call's temp
// dir. Each goes through the full handler (with the real dependency and model steps wired, as
// the worker wires them) and must be refused before any subprocess starts, before the Python
// child is asked anything and before any request reaches the hub.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { installDependencies } from "../../handler/deps/index.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import { cacheModels } from "../../handler/hf/index.ts";
import { silentLogger } from "../../protocol/logger.ts";
import * as subprocess from "../../handler/subprocess.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { HEALTHY, newEngine, newHandler, runJob } from "../helpers/engine.ts";
import { expectReadableFailure } from "./helpers.ts";

vi.mock("../../handler/subprocess.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../handler/subprocess.ts")>();
  return { ...original, runLoggedSubprocess: vi.fn(original.runLoggedSubprocess) };
});
const runLoggedSubprocess = vi.mocked(subprocess.runLoggedSubprocess);

let engine: PythonEngine;
let handler: JobHandler;
let hub: Server;
let hubRequests: string[] = [];
let cacheDir: string;
let checkRequirements: ReturnType<typeof vi.spyOn>;
let engineCall: ReturnType<typeof vi.spyOn>;

beforeAll(async () => {
  cacheDir = mkdtempSync(join(tmpdir(), "ferry-inject-hf-"));
  hub = createServer((req, res) => {
    hubRequests.push(`${req.method} ${req.url}`);
    res.writeHead(404, { "X-Error-Code": "RepoNotFound" }).end("{}");
  });
  await new Promise<void>((resolve) => hub.listen(0, "127.0.0.1", resolve));
  const hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  engine = newEngine();
  await engine.start();
  handler = newHandler(engine, {
    installDependencies: (request, ctx) =>
      installDependencies(request, { engine, logger: silentLogger(), signal: ctx.signal, pipTimeoutMs: 5_000, target: { externallyManaged: false } }),
    cacheModels: (models, ctx) => cacheModels(models, { logger: silentLogger(), signal: ctx.signal, hubUrl, cacheDir, retries: 0 }),
  });
  checkRequirements = vi.spyOn(engine, "checkRequirements");
  engineCall = vi.spyOn(engine, "call");
});
afterAll(async () => {
  await engine.stop();
  await new Promise<void>((resolve) => hub.close(() => resolve()));
  rmSync(cacheDir, { recursive: true, force: true });
});
beforeEach(() => {
  runLoggedSubprocess.mockClear();
  checkRequirements.mockClear();
  engineCall.mockClear();
  hubRequests = [];
});

const job = (extra: Record<string, unknown>) => ({ function_name: "f", function_code: "def f():\n    return 1", serialization_format: "json", ...extra });

/** The job failed, fast, and nothing ran: no subprocess, no question to Python, no user code, no hub request. */
async function expectRefusedBeforeAnythingRuns(extra: Record<string, unknown>) {
  const started = performance.now();
  const { response } = await runJob(handler, job(extra));
  const elapsed = performance.now() - started;
  expectReadableFailure(response, JSON.stringify(extra));
  expect(runLoggedSubprocess, "subprocesses started").not.toHaveBeenCalled();
  expect(checkRequirements, "requirement checks asked of the Python child").not.toHaveBeenCalled();
  expect(engineCall, "user code calls").not.toHaveBeenCalled();
  expect(hubRequests, "requests to the hub").toEqual([]);
  expect(elapsed).toBeLessThan(500);
  return response;
}

const PIP_INJECTIONS = [
  "--index-url=http://127.0.0.1:9/simple",
  "--extra-index-url http://127.0.0.1:9/simple",
  "-e .",
  "-e git+https://example.invalid/x.git#egg=x",
  "-r /etc/passwd",
  "requests --index-url http://127.0.0.1:9/simple",
  "requests -i http://127.0.0.1:9/simple",
  "numpy --pre --no-deps",
  "requests && curl http://127.0.0.1:9 | sh",
  "requests; rm -rf /",
  "requests`id`",
  "$(id)",
  "requests|tee /tmp/x",
  "requests\nrequests --index-url=http://127.0.0.1:9",
  "requests>=1 ${HOME}",
  "pkg @ file:///etc/passwd'; id; '",
];
const APT_INJECTIONS = [
  "-o APT::Update::Pre-Invoke::=id",
  "-oDpkg::Pre-Invoke::=id",
  "--allow-unauthenticated",
  "curl -o /etc/passwd",
  "vim;id",
  "vim && id",
  "$(id)",
  "`id`",
  "../../bin/sh",
  "vim\n-o",
  "Vim",
];
const MODEL_INJECTIONS = [
  "../../etc/passwd",
  "org/..",
  "../org",
  "org/name@../../../tmp/x",
  "org/name@refs/../../x",
  "org/na..me/../x",
  "/etc/passwd",
  "org\\..\\x",
  "org/name/../../x",
  "org/name@..",
];
const MODULE_PATHS = ["../escape.py", "a/../../escape.py", "/tmp/escape.py", "\\escape.py", "C:\\escape.py", "a\\..\\..\\escape.py", "..", "pkg/\0.py", "run.sh", "x.py/../../../y.py"];

describe("injection attempts are refused before any subprocess starts", () => {
  it.each(PIP_INJECTIONS)("pip requirement %j", async (requirement) => {
    const response = await expectRefusedBeforeAnythingRuns({ dependencies: ["six", requirement] });
    expect(response.error).toContain("dependencies[1]");
  });

  it.each(APT_INJECTIONS)("apt package %j", async (name) => {
    const response = await expectRefusedBeforeAnythingRuns({ system_dependencies: [name] });
    expect(response.error).toContain("system_dependencies[0]");
  });

  it.each(MODEL_INJECTIONS)("model id %j", async (model) => {
    const response = await expectRefusedBeforeAnythingRuns({ hf_models_to_cache: [model] });
    // A refused model id is a bad request (the handler maps ModelDownloadError "invalid-model-id" to InvalidRequest).
    expect(response.error_type).toBe("InvalidRequest");
    expect(response.error).toContain("invalid-model-id");
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it.each(MODULE_PATHS)("modules path %j", async (path) => {
    const response = await expectRefusedBeforeAnythingRuns({ modules: { [path]: "import os\nos._exit(9)\n" } });
    expect(response.error_type).toBe("InvalidRequest");
    expect(response.error).toContain("modules");
  });

  it("the spies see what a permitted job does (so the assertions above can fail)", async () => {
    const { response } = await runJob(handler, job({ modules: { "pkg/helper.py": "X = 1\n" }, hf_models_to_cache: ["org/model"] }));
    // The hub answered 404 for the (permitted) model id: the request reached it, and no user code ran.
    expect(response).toMatchObject({ success: false, error_type: "ModelDownloadError" });
    expect(hubRequests.length).toBeGreaterThan(0);
    const deps = await runJob(handler, job({ dependencies: ["packaging"] }));
    expect(checkRequirements).toHaveBeenCalled();
    expect(deps.response).toMatchObject({ success: true, json_result: 1 });
    expect(engineCall).toHaveBeenCalled();
    const healthy = await runJob(handler, HEALTHY);
    expect(healthy.response).toMatchObject({ success: true, json_result: 42 });
  });

  it("a refused dependency list answers InvalidRequest, as handler/deps/errors.ts documents (DependencySpecError.errorType)", async () => {
    for (const dependencies of [["--index-url=http://127.0.0.1:9/simple"], ["six", "-e ."]]) {
      const { response } = await runJob(handler, job({ dependencies }));
      expect(response.error).toContain("Invalid dependency list");
      expect(response.error_type).toBe("InvalidRequest");
    }
    const apt = await runJob(handler, job({ system_dependencies: ["-o APT::Update::Pre-Invoke::=id"] }));
    expect(apt.response.error_type).toBe("InvalidRequest");
  });
});
