/**
 * Live log lines are clipped for display here, in the worker, after secrets are redacted: the
 * Python child sends whole lines, so a token is replaced before any limit could cut it in half
 * and leave part of it readable.
 */
import type { StreamItem } from "../protocol/wire.ts";

export const MAX_LIVE_LINE_CHARS = 8192;

export function clipLiveLine(item: StreamItem): StreamItem {
  if (!("log" in item) || item.log.line.length <= MAX_LIVE_LINE_CHARS) return item;
  return { log: { ...item.log, line: `${item.log.line.slice(0, MAX_LIVE_LINE_CHARS)} [line truncated]` } };
}
