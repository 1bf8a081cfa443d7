import { describe, expect, it } from "vitest";
import { hubCacheDir, RUNPOD_VOLUME_HUB_CACHE } from "../../handler/hf/cache-dir.ts";
import { InvalidModelSpecError, parseModelSpec } from "../../handler/hf/model-spec.ts";
import { compileFilter } from "../../handler/hf/patterns.ts";

describe("parseModelSpec", () => {
  it("reads org/name with main as the default revision", () => {
    expect(parseModelSpec("google-bert/bert-base_uncased.v2")).toEqual({
      repo: "google-bert/bert-base_uncased.v2",
      revision: "main",
      revisionDefaulted: true,
      pinned: false,
    });
  });

  it("reads a branch, a tag, refs/pr/N and a pinned commit", () => {
    expect(parseModelSpec("org/m@v1.0").revision).toBe("v1.0");
    expect(parseModelSpec("org/m@refs/pr/3").revision).toBe("refs/pr/3");
    const sha = "0123456789abcdef0123456789abcdef01234567";
    expect(parseModelSpec(`org/m@${sha}`)).toMatchObject({ revision: sha, pinned: true, revisionDefaulted: false });
  });

  it.each([
    "",
    "bert-base-uncased",
    "org/name/extra",
    "../etc/passwd",
    "org/..",
    "../name",
    "org/na..me",
    "org/na me",
    "/abs/path",
    "org\\name",
    "org/name@",
    "org/name@../../x",
    "org/name@refs/../../x",
    "org/name@a//b",
    "org/name@/abs",
    "org/name@a b",
    "org/n\u00e9",
  ])("refuses %j", (raw) => {
    expect(() => parseModelSpec(raw)).toThrow(InvalidModelSpecError);
  });

  it("refuses values that are not strings", () => {
    expect(() => parseModelSpec(42)).toThrow(InvalidModelSpecError);
    expect(() => parseModelSpec(undefined)).toThrow(InvalidModelSpecError);
  });
});

describe("hubCacheDir", () => {
  const noVolume = { isDirectory: () => false, homeDir: () => "/home/u" };
  const volume = { isDirectory: (p: string) => p === "/runpod-volume", homeDir: () => "/home/u" };

  it("follows huggingface_hub's order", () => {
    expect(hubCacheDir({ HF_HUB_CACHE: "/c/hub", HF_HOME: "/h" }, volume)).toBe("/c/hub");
    expect(hubCacheDir({ HUGGINGFACE_HUB_CACHE: "/old/hub", HF_HOME: "/h" }, noVolume)).toBe("/old/hub");
    expect(hubCacheDir({ HF_HOME: "/h" }, volume)).toBe("/h/hub");
    expect(hubCacheDir({ XDG_CACHE_HOME: "/x" }, noVolume)).toBe("/x/huggingface/hub");
    expect(hubCacheDir({}, noVolume)).toBe("/home/u/.cache/huggingface/hub");
  });

  it("defaults to the network volume when /runpod-volume is mounted", () => {
    expect(hubCacheDir({}, volume)).toBe(RUNPOD_VOLUME_HUB_CACHE);
    expect(hubCacheDir({ XDG_CACHE_HOME: "/x" }, volume)).toBe(RUNPOD_VOLUME_HUB_CACHE);
    expect(RUNPOD_VOLUME_HUB_CACHE).toBe("/runpod-volume/huggingface-cache/hub");
  });

  it("ignores empty variables", () => {
    expect(hubCacheDir({ HF_HUB_CACHE: " ", HF_HOME: "" }, noVolume)).toBe("/home/u/.cache/huggingface/hub");
  });
});

describe("include / exclude patterns (fnmatch, as huggingface_hub)", () => {
  const files = ["config.json", "model.safetensors", "pytorch_model.bin", "onnx/model.onnx", "onnx/config.json", "tokenizer.json"];

  it("keeps only included files, then drops excluded ones", () => {
    const select = compileFilter({ include: ["*.safetensors", "*.json"], exclude: ["onnx/"] });
    expect(files.filter(select)).toEqual(["config.json", "model.safetensors", "tokenizer.json"]);
  });

  it("lets * cross folders, as fnmatch does", () => {
    expect(files.filter(compileFilter({ include: ["*config.json"] }))).toEqual(["config.json", "onnx/config.json"]);
    expect(files.filter(compileFilter({ exclude: ["*.bin", "*.onnx"] }))).toHaveLength(4);
  });

  it("supports ? and character classes, and treats an empty include as no filter", () => {
    expect(compileFilter({ include: ["model.safetensor?"] })("model.safetensors")).toBe(true);
    expect(compileFilter({ include: ["[!m]*.json"] })("config.json")).toBe(true);
    expect(compileFilter({ include: ["[!c]*.json"] })("config.json")).toBe(false);
    expect(files.filter(compileFilter({ include: [] }))).toHaveLength(files.length);
  });
});
