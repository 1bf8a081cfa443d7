// Cache-ahead through the worker's real handler wiring: a job names a model and file patterns,
// the files land in the cache the Python child reads, and the user code finds them offline.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../protocol/logger.ts";
import type { PythonEngine } from "../../handler/engine/python-engine.ts";
import { createWorkerHandler } from "../../handler/worker-handler.ts";
import type { JobHandler } from "../../handler/worker/types.ts";
import { startFakeHfHub, type FakeHfHub } from "../helpers/fake-hf-hub.ts";
import { newEngine, runJob } from "../helpers/engine.ts";
import { smallModelFiles } from "./fixtures.ts";

let hub: FakeHfHub;
let cacheDir: string;
let engine: PythonEngine;
let handler: JobHandler;
const previousEndpoint = process.env.HF_ENDPOINT;

beforeAll(async () => {
  hub = await startFakeHfHub();
  hub.addRepo("acme/tiny-bert", smallModelFiles("wired"));
  process.env.HF_ENDPOINT = hub.url;
  cacheDir = await mkdtemp(join(tmpdir(), "ferry-hf-wired-"));
  engine = newEngine({ env: { ...process.env, HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: "1" } });
  await engine.start();
  handler = createWorkerHandler({ engine, target: { externallyManaged: false }, hfCache: cacheDir, gpus: [], logger: silentLogger() });
});

afterAll(async () => {
  await engine.stop();
  await hub.close();
  if (previousEndpoint === undefined) delete process.env.HF_ENDPOINT;
  else process.env.HF_ENDPOINT = previousEndpoint;
  await rm(cacheDir, { recursive: true, force: true });
});

// The user code reads the cache like huggingface_hub does: refs/main -> snapshots/<commit>/.
const LIST_SNAPSHOT = `
import os
def files(repo):
    root = os.path.join(os.environ["HF_HUB_CACHE"], "models--" + repo.replace("/", "--"))
    commit = open(os.path.join(root, "refs", "main")).read().strip()
    snapshot = os.path.join(root, "snapshots", commit)
    return sorted(os.path.relpath(os.path.join(d, f), snapshot) for d, _, names in os.walk(snapshot) for f in names)
`;

describe("cache-ahead through the worker's handler", () => {
  it("caches only the files the job's patterns allow, before the user code runs", async () => {
    const { response, logs } = await runJob(handler, {
      function_name: "files",
      function_code: LIST_SNAPSHOT,
      args: ["acme/tiny-bert"],
      serialization_format: "json",
      hf_models_to_cache: ["acme/tiny-bert"],
      hf_allow_patterns: ["*.json", "*.safetensors"],
      hf_ignore_patterns: ["generation_config.json"],
    });
    expect(response.success, response.error ?? "").toBe(true);
    expect(response.json_result).toEqual(["config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
    expect(response.timings?.model_download_ms).toBeGreaterThan(0);
    expect(response.details?.models).toMatchObject({ models: [{ repo: "acme/tiny-bert", fromCache: false }] });
    expect(logs.some((line) => line.includes("acme/tiny-bert"))).toBe(true);
  });

  it("answers a model that does not exist as ModelDownloadError without running the code", async () => {
    const { response } = await runJob(handler, {
      function_name: "f",
      function_code: "def f():\n    raise AssertionError('must not run')",
      serialization_format: "json",
      hf_models_to_cache: ["acme/no-such-model"],
    });
    expect(response).toMatchObject({ success: false, error_type: "ModelDownloadError" });
    expect(response.error).toContain("acme/no-such-model");
  });
});
