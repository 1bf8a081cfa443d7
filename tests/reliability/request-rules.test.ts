// The request rules, one table run against both sides: every entry is refused or accepted the
// same way by the SDK (before sending: `remote()` options, resource env) and by the worker side
// (the full handler before any subprocess, the local server before any spawn). A refused entry
// never reaches apt, pip or a process environment, and both sides name the same reason.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { parseDependencyRequest } from "../../handler/deps/index.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import { installDependencies } from "../../handler/deps/index.ts";
import * as subprocess from "../../handler/subprocess.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { aptPackageProblem, envEntryProblem, pipRequirementProblem } from "../../protocol/request-rules.ts";
import { ConfigError, LiveServerless, remote } from "../../sdk/index.ts";
import { EndpointRegistry } from "../../sdk/local-server/endpoint-registry.ts";
import { startLocalServer } from "../../sdk/local-server/server.ts";
import { newEngine, newHandler, runJob } from "../helpers/engine.ts";
import { waitUntil } from "../local-server/helpers.ts";

vi.mock("../../handler/subprocess.ts", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../handler/subprocess.ts")>();
  return { ...original, runLoggedSubprocess: vi.fn(original.runLoggedSubprocess) };
});
const runLoggedSubprocess = vi.mocked(subprocess.runLoggedSubprocess);

type Row = { kind: "pip" | "apt"; entry: string; refused: RegExp | false } | { kind: "env"; key: string; value: string; refused: RegExp | false };

const TABLE: Row[] = [
  { kind: "apt", entry: "libgl1:amd64", refused: false },
  { kind: "apt", entry: "g++", refused: false },
  { kind: "apt", entry: "ffmpeg=7:5.1.6-0+deb12u1", refused: false },
  { kind: "apt", entry: "curl/bookworm-backports", refused: false },
  { kind: "apt", entry: "ffmpeg=7:6.1_1", refused: /invalid version '7:6\.1_1'/ },
  { kind: "apt", entry: "python3-msgpack-", refused: /"remove this package"/ },
  { kind: "apt", entry: "pkg+", refused: /ends with '\+'/ },
  { kind: "apt", entry: "-o APT::Update::Pre-Invoke::=id", refused: /begins with '-'/ },
  { kind: "apt", entry: "a; rm -rf /", refused: /whitespace/ },
  { kind: "apt", entry: "vim;id", refused: /metacharacter ';'/ },
  { kind: "pip", entry: "requests>=2,<3", refused: false },
  { kind: "pip", entry: "numpy; python_version >= '3.9'", refused: false },
  { kind: "pip", entry: "x @ file:///etc/passwd", refused: /direct reference/ },
  { kind: "pip", entry: "x @ https://169.254.169.254/latest/meta-data/", refused: /direct reference/ },
  { kind: "pip", entry: "https://169.254.169.254/x.whl", refused: /bare URL/ },
  { kind: "pip", entry: "--index-url=https://evil.example/simple", refused: /begins with '-'/ },
  { kind: "pip", entry: "a; rm -rf /", refused: /option '-rf'/ },
  { kind: "pip", entry: "six\n--pre", refused: /control character or line break/ },
  { kind: "pip", entry: "six$(id)", refused: /metacharacter '\$'/ },
  { kind: "env", key: "TOKEN", value: "plain-value", refused: false },
  { kind: "env", key: "TOKEN", value: "a\u0000b", refused: /NUL character/ },
  { kind: "env", key: "TOKEN", value: "a\nINJECTED=1", refused: /line break/ },
  { kind: "env", key: "NOT-VALID", value: "x", refused: /not a valid environment variable name/ },
];

const label = (row: Row) => (row.kind === "env" ? `env ${row.key}=${JSON.stringify(row.value)}` : `${row.kind} ${JSON.stringify(row.entry)}`);

/** The SDK side: the error `remote()` or the resource throws before anything is sent, or undefined. */
function sdkRefusal(row: Row): string | undefined {
  try {
    if (row.kind === "env") new LiveServerless({ name: "rules", env: { [row.key]: row.value } });
    else {
      const resource = new LiveServerless({ name: "rules" });
      remote(resource, row.kind === "pip" ? { dependencies: [row.entry] } : { systemDependencies: [row.entry] });
    }
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
}

let engine: PythonEngine;
let handler: JobHandler;

beforeAll(async () => {
  engine = newEngine();
  await engine.start();
  handler = newHandler(engine, {
    installDependencies: (request, ctx) => installDependencies(request, { engine, logger: silentLogger(), signal: ctx.signal, pipTimeoutMs: 5_000, target: { externallyManaged: false } }),
  });
});
afterAll(() => engine.stop());
beforeEach(() => {
  runLoggedSubprocess.mockClear();
});

/** The worker side: the handler's answer when refused (no subprocess started), or undefined when its validation accepts the entry. */
async function workerRefusal(row: Row): Promise<string | undefined> {
  if (row.kind === "env") {
    const registry = new EndpointRegistry();
    try {
      registry.save({ name: "rules", template: { name: "t", env: [{ key: row.key, value: row.value }] } });
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }
  const lists = row.kind === "pip" ? { dependencies: [row.entry] } : { system_dependencies: [row.entry] };
  if (!row.refused) {
    // Accepted: validation passes (the install itself is another suite's business).
    expect(() => parseDependencyRequest(lists)).not.toThrow();
    return undefined;
  }
  const { response } = await runJob(handler, { function_name: "f", function_code: "def f():\n    return 1", serialization_format: "json", ...lists });
  expect(runLoggedSubprocess, "subprocesses started").not.toHaveBeenCalled();
  expect(response.error_type).toBe("InvalidRequest");
  return response.error ?? undefined;
}

describe("one table of request rules, both sides", () => {
  it.each(TABLE.map((row) => [label(row), row] as const))("%s", async (_label, row) => {
    const sdk = sdkRefusal(row);
    const worker = await workerRefusal(row);
    const shared = row.kind === "env" ? envEntryProblem(row.key, row.value) : row.kind === "pip" ? pipRequirementProblem(row.entry) : aptPackageProblem(row.entry);
    if (row.refused) {
      expect(shared).toMatch(row.refused);
      expect(sdk, "the SDK refuses it").toMatch(row.refused);
      expect(worker, "the worker side refuses it").toMatch(row.refused);
    } else {
      expect(shared).toBeUndefined();
      expect(sdk, "the SDK accepts it").toBeUndefined();
      expect(worker, "the worker side accepts it").toBeUndefined();
    }
  });

  it("direct references pass on both sides only with FERRY_ALLOW_DIRECT_REFERENCES=1", () => {
    const entry = "x @ https://127.0.0.1:9/x-1.0-py3-none-any.whl";
    vi.stubEnv("FERRY_ALLOW_DIRECT_REFERENCES", "1");
    try {
      expect(sdkRefusal({ kind: "pip", entry, refused: false })).toBeUndefined();
      expect(() => parseDependencyRequest({ dependencies: [entry] })).not.toThrow();
    } finally {
      vi.unstubAllEnvs();
    }
    expect(sdkRefusal({ kind: "pip", entry, refused: /direct/ })).toMatch(/direct reference/);
    expect(() => parseDependencyRequest({ dependencies: [entry] })).toThrow(/direct reference/);
  });
});

describe("an endpoint saved with a NUL in its env", () => {
  it("does not stop the server from starting; its workers fail to start with the reason, and other endpoints work", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "ferry-rules-"));
    try {
      mkdirSync(stateDir, { recursive: true });
      const healthy = new EndpointRegistry();
      const good = healthy.save({ name: "good", workersMin: 0, workersMax: 0, template: { name: "t", env: [] } });
      const bad = { ...good, id: "badendpoint000", name: "bad", workersMin: 1, workersMax: 1, template: { ...good.template, env: [{ key: "TOKEN", value: "a\u0000b" }] } };
      writeFileSync(join(stateDir, "local-endpoints.json"), JSON.stringify({ version: 1, endpoints: [good, bad] }));
      const errors: string[] = [];
      const logger = silentLogger();
      logger.error = ((obj: unknown, msg?: string) => errors.push(`${msg} ${JSON.stringify(obj)}`)) as typeof logger.error;
      const server = await startLocalServer({ stateDir, logger, workerCommand: [process.execPath, "-e", "setTimeout(() => {}, 60000)"] });
      try {
        await waitUntil(() => errors.find((e) => e.includes("could not start")), 5_000, "the refused start to be logged");
        expect(errors.join("\n")).toMatch(/env\.TOKEN is refused: the value of TOKEN contains a NUL character/);
        expect(server.workers("badendpoint000")).toEqual([]);
        expect(server.endpoints().map((e) => e.name).sort()).toEqual(["bad", "good"]);
      } finally {
        await server.close();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
