/**
 * What of a fixture's output must be the same inside an image and outside it: everything but
 * what differs by machine or moment (timings, worker details, timestamps, generated ids).
 */
import { isDeepStrictEqual } from "node:util";

const BY_MACHINE = new Set(["timings", "details"]);
const BY_MOMENT = new Set(["created_at", "last_used"]);
const GENERATED_INSTANCE_ID = /^[A-Za-z_]\w*_[0-9a-f]{8}$/;

export function comparableOutput(output: unknown): unknown {
  if (!output || typeof output !== "object") return output;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(output as Record<string, unknown>)) {
    if (BY_MACHINE.has(key)) continue;
    if (key === "instance_id" && typeof value === "string" && GENERATED_INSTANCE_ID.test(value)) {
      out[key] = "<generated>";
    } else if (key === "instance_info" && value && typeof value === "object") {
      out[key] = Object.fromEntries(Object.entries(value).filter(([k]) => !BY_MOMENT.has(k)));
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The keys whose values differ (empty when the outputs match). */
export function outputDifferences(inside: unknown, outside: unknown): string[] {
  const a = comparableOutput(inside) as Record<string, unknown> | undefined;
  const b = comparableOutput(outside) as Record<string, unknown> | undefined;
  if (!a || !b) return a === b ? [] : ["output"];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !isDeepStrictEqual(a[k], b[k])).sort();
}
