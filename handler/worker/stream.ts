/**
 * One partial output of a generator job, posted to the stream URL as `{"output": value}`.
 */
import type { Logger } from "../logger.ts";
import type { RunpodHttp } from "./http.ts";
import { streamUrl } from "./url-templates.ts";

/** RunPod's cap on one stream chunk. */
export const STREAM_CHUNK_LIMIT_BYTES = 1024 * 1024;

export async function postStreamItem(http: RunpodHttp, template: string, workerId: string, jobId: string, value: unknown, logger: Logger): Promise<void> {
  let body: string;
  try {
    body = JSON.stringify({ output: value === undefined ? null : value });
  } catch (error) {
    logger.error({ detail: error instanceof Error ? error.message : String(error) }, "a streamed value cannot be sent as JSON; skipped");
    return;
  }
  const bytes = Buffer.byteLength(body);
  if (bytes > STREAM_CHUNK_LIMIT_BYTES) {
    logger.warn({ bytes }, "stream chunk is over RunPod's 1 MB cap; the platform may refuse it");
  }
  await http.post(streamUrl(template, workerId, jobId), body, "stream");
}
