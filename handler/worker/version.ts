/**
 * The version the startup line, pings and error payloads name. The bundle defines
 * FERRY_VERSION at build time; run from source, package.json says it.
 */
import { readFileSync } from "node:fs";

declare const FERRY_VERSION: string;

function packageVersion(): string {
  try {
    const raw = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    const version = (JSON.parse(raw) as { version?: unknown }).version;
    return typeof version === "string" ? version : "0.1.0";
  } catch {
    return "0.1.0";
  }
}

export const WORKER_VERSION: string = typeof FERRY_VERSION === "string" ? FERRY_VERSION : packageVersion();
