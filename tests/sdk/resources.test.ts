/**
 * Resource configs: RunPod's defaults, validation with "did you mean", the endpoint input they
 * produce, and a settings hash that changes only when the user's settings do.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../sdk/errors.ts";
import { CpuInstanceType, CpuLiveServerless, GpuGroup, LiveServerless, ServerlessEndpoint, declaredResources } from "../../sdk/resources.ts";
import { remote } from "../../sdk/remote.ts";

const env = {} as NodeJS.ProcessEnv;
/** The default image tags follow the package's version. */
const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

describe("defaults (runpod-reference.md section 4)", () => {
  it("LiveServerless", () => {
    const r = new LiveServerless({ name: "defaults-gpu" });
    expect(r.config).toMatchObject({ workersMin: 0, workersMax: 3, idleTimeout: 5, scalerType: "QUEUE_DELAY", scalerValue: 4, gpuCount: 1, flashboot: true, env: {} });
    const input = r.endpointInput(env);
    expect(input).toMatchObject({ name: "defaults-gpu", gpuCount: 1, workersMin: 0, workersMax: 3, idleTimeout: 5, type: "QB", flashBootType: "FLASHBOOT" });
    // ANY expands to every pool, sorted
    expect(input.gpuIds.split(",")).toEqual([...input.gpuIds.split(",")].sort());
    expect(input.gpuIds).toContain("ADA_24");
    expect(input.gpuIds).not.toContain("any");
    expect(input.template.imageName).toBe(`ferry/worker:${version}`);
    expect(input.instanceIds).toBeUndefined();
  });

  it("CpuLiveServerless sends CPU flavours and empty GPU fields", () => {
    const r = new CpuLiveServerless({ name: "defaults-cpu", instanceIds: [CpuInstanceType.CPU5C_4_8, CpuInstanceType.CPU3C_1_2] });
    const input = r.endpointInput(env);
    expect(input.instanceIds).toEqual(["cpu3c-1-2", "cpu5c-4-8"]);
    expect(input.gpuIds).toBe("");
    expect(input.gpuCount).toBe(0);
    expect(input.template.imageName).toBe(`ferry/worker-cpu:${version}`);
  });

  it("images: the resource's imageName, else FERRY_GPU_IMAGE / FERRY_CPU_IMAGE", () => {
    expect(new LiveServerless({ name: "img-a" }).image({ FERRY_GPU_IMAGE: "me/gpu:1" })).toBe("me/gpu:1");
    expect(new CpuLiveServerless({ name: "img-b" }).image({ FERRY_CPU_IMAGE: "me/cpu:1" })).toBe("me/cpu:1");
    expect(new LiveServerless({ name: "img-c", imageName: "mine:2" }).image({ FERRY_GPU_IMAGE: "me/gpu:1" })).toBe("mine:2");
    expect(() => new ServerlessEndpoint({ name: "img-d" } as never)).toThrow(/imageName/);
  });

  it("only the env the resource names is in the template", () => {
    const r = new LiveServerless({ name: "env-only", env: { B: "2", A: "1" } });
    expect(r.endpointInput({ SECRET: "nope", HF_TOKEN: "x" } as NodeJS.ProcessEnv).template.env).toEqual([
      { key: "A", value: "1" },
      { key: "B", value: "2" },
    ]);
  });
});

describe("validation", () => {
  it("a misspelt option fails with a suggestion", () => {
    expect(() => new LiveServerless({ name: "typo", workerMax: 2 } as never)).toThrow('LiveServerless "typo": unknown option "workerMax" (did you mean "workersMax"?)');
    expect(() => new LiveServerless({ name: "typo", idle_timeout: 2 } as never)).toThrow('did you mean "idleTimeout"?');
    expect(() => new CpuLiveServerless({ name: "typo", gpuIds: [] } as never)).toThrow(/unknown option "gpuIds"/);
    expect(() => remote(new LiveServerless({ name: "typo-remote" }), { dependancies: ["numpy"] } as never)).toThrow('remote(): unknown option "dependancies" (did you mean "dependencies"?)');
  });

  it("an unknown GPU pool or CPU flavour fails with a suggestion", () => {
    expect(() => new LiveServerless({ name: "pool", gpuIds: ["ADA24"] })).toThrow('gpuIds[0]: unknown GPU pool "ADA24" (did you mean "ADA_24"?)');
    expect(() => new CpuLiveServerless({ name: "flavour", instanceIds: ["cpu3c-2-5"] })).toThrow('unknown CPU flavour "cpu3c-2-5" (did you mean "cpu3c-2-4"?)');
    // an excluded exact GPU type is allowed
    expect(new LiveServerless({ name: "pool-ok", gpuIds: [GpuGroup.ADA_24, "-NVIDIA GeForce RTX 4090"] }).endpointInput(env).gpuIds).toBe("-NVIDIA GeForce RTX 4090,ADA_24");
  });

  it("values are checked", () => {
    expect(() => new LiveServerless({ name: "bad name!" })).toThrow(ConfigError);
    expect(() => new LiveServerless({ name: "neg", workersMax: -1 })).toThrow(/workersMax/);
    expect(() => new LiveServerless({ name: "minmax", workersMin: 4, workersMax: 2 })).toThrow("workersMin (4) is larger than workersMax (2)");
    expect(() => new LiveServerless({ name: "env", env: { "NOT-VALID": "x" } })).toThrow(/environment variable name/);
    expect(() => new LiveServerless({ name: "scaler", scalerType: "FAST" as never })).toThrow(/scalerType/);
  });

  it("every resource built is declared (what `ferry deploy` provisions)", () => {
    const r = new LiveServerless({ name: "declared-one" });
    expect(declaredResources()).toContain(r);
  });
});

describe("settings hash", () => {
  it("does not change with the order of lists or env keys", () => {
    const a = new LiveServerless({ name: "h1", gpuIds: [GpuGroup.AMPERE_48, GpuGroup.ADA_24], env: { X: "1", Y: "2" }, locations: ["US", "EU"] });
    const b = new LiveServerless({ name: "h1", gpuIds: [GpuGroup.ADA_24, GpuGroup.AMPERE_48], env: { Y: "2", X: "1" }, locations: ["EU", "US"] });
    expect(a.configHash(env)).toBe(b.configHash(env));
    expect(a.endpointInput(env).template.name).toBe(b.endpointInput(env).template.name);
  });

  it("changes with any setting the user makes, and with the image", () => {
    const base = new LiveServerless({ name: "h2" }).configHash(env);
    expect(new LiveServerless({ name: "h2", workersMax: 4 }).configHash(env)).not.toBe(base);
    expect(new LiveServerless({ name: "h2", env: { A: "1" } }).configHash(env)).not.toBe(base);
    expect(new LiveServerless({ name: "h2" }).configHash({ FERRY_GPU_IMAGE: "other:1" })).not.toBe(base);
    expect(new LiveServerless({ name: "h2" }).configHash(env)).toBe(base);
  });
});
