/**
 * Where the Hugging Face hub cache lives. The worker downloads into it and hands the same
 * directory to the Python child as `HF_HUB_CACHE`, so both sides always agree.
 *
 * Order, as Python's huggingface_hub resolves it, with one Ferry step added: `HF_HUB_CACHE`,
 * `HUGGINGFACE_HUB_CACHE` (its older name), `HF_HOME/hub`, then, when a RunPod network volume
 * is mounted, a cache on the volume (the path RunPod's own model caching uses, so models it
 * cached are found, and downloads survive the worker), then `XDG_CACHE_HOME/huggingface/hub`,
 * then `~/.cache/huggingface/hub`.
 */
import { statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const RUNPOD_VOLUME_DIR = "/runpod-volume";
export const RUNPOD_VOLUME_HUB_CACHE = join(RUNPOD_VOLUME_DIR, "huggingface-cache", "hub");

export interface CacheDirProbe {
  /** True when a directory exists at `path`. */
  isDirectory(path: string): boolean;
  homeDir(): string;
}

const fsProbe: CacheDirProbe = {
  isDirectory(path) {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  homeDir: homedir,
};

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== "" ? value : undefined;
}

/** The hub cache directory (absolute) for this environment. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env, probe: CacheDirProbe = fsProbe): string {
  const explicit = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  if (explicit) return resolve(explicit);
  const hfHome = nonEmpty(env.HF_HOME);
  if (hfHome) return resolve(hfHome, "hub");
  if (probe.isDirectory(RUNPOD_VOLUME_DIR)) return RUNPOD_VOLUME_HUB_CACHE;
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  if (xdg) return resolve(xdg, "huggingface", "hub");
  return join(probe.homeDir(), ".cache", "huggingface", "hub");
}
