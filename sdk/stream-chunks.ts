/** The items of a job's `/stream` answers, as a Ferry worker sends them (`protocol/wire.ts` StreamItem). */
import type { LogLine } from "../protocol/wire.ts";

export interface StreamChunk {
  log?: LogLine;
  value?: unknown;
  progress?: unknown;
}

/** `/stream` entries: `{output: {log}}`, `{output: {value}}`, or an array of those under `output`. */
export function* chunksOf(stream: unknown[]): Generator<StreamChunk> {
  for (const entry of stream) {
    const output = entry && typeof entry === "object" && "output" in entry ? (entry as { output: unknown }).output : entry;
    const items = Array.isArray(output) ? output : [output];
    for (const item of items) if (item && typeof item === "object") yield item as StreamChunk;
  }
}
