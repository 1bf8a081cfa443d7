/**
 * The RunPod API key and where it came from: RUNPOD_API_KEY, else the credentials file that
 * `runpod config` writes (`~/.runpod/config.toml`, `api_key` under `[default]`). The source is
 * named in messages (a refused key says which one it was); the key itself never is.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { z } from "zod";

export interface ApiKeyFound {
  apiKey: string;
  /** "the RUNPOD_API_KEY environment variable", "~/.runpod/config.toml ([default] api_key)". */
  source: string;
}

const ConfigSchema = z.object({ default: z.object({ api_key: z.string().min(1) }).passthrough() }).passthrough();

/** `~/.runpod/config.toml` of the user whose HOME is in `env` (an env without HOME names no home but this process's own). */
export function runpodConfigFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const home = env.HOME || (env === process.env ? homedir() : undefined);
  return home ? join(home, ".runpod", "config.toml") : undefined;
}

/** The key in RunPod's credentials file, or undefined (no file, no key, or a file that does not parse). */
export function keyFromConfigFile(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = ConfigSchema.safeParse(parse(text));
    return parsed.success ? parsed.data.default.api_key.trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

export function findRunpodApiKey(env: NodeJS.ProcessEnv = process.env): ApiKeyFound | undefined {
  if (env.RUNPOD_API_KEY) return { apiKey: env.RUNPOD_API_KEY, source: "the RUNPOD_API_KEY environment variable" };
  const file = runpodConfigFile(env);
  const apiKey = file ? keyFromConfigFile(file) : undefined;
  return apiKey ? { apiKey, source: `${file} ([default] api_key)` } : undefined;
}
