/**
 * One partial output of a generator job, posted to the stream URL as `{"output": value}`.
 * A value that cannot be delivered throws, so the job fails with the reason instead of
 * completing with a stream that silently lacks a chunk.
 */
import { STREAM_CHUNK_LIMIT_BYTES } from "../../protocol/runpod-jobs.ts";
import type { RunpodHttp } from "./http.ts";
import { streamUrl } from "./url-templates.ts";

/** RunPod's cap on one stream chunk, measured as the JSON body that is posted. */
export { STREAM_CHUNK_LIMIT_BYTES };

function serializationError(message: string): Error {
  const error = new Error(message);
  error.name = "SerializationError";
  return error;
}

/** The body for one stream chunk; throws a SerializationError when it cannot be sent. */
function streamChunkBody(value: unknown): string {
  let body: string;
  try {
    body = JSON.stringify({ output: value === undefined ? null : value });
  } catch (cause) {
    throw serializationError(`a streamed value cannot be sent as JSON: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  const bytes = Buffer.byteLength(body);
  if (bytes > STREAM_CHUNK_LIMIT_BYTES) {
    throw serializationError(
      `a streamed chunk is ${bytes} bytes as JSON, over the stream chunk limit of ${STREAM_CHUNK_LIMIT_BYTES} bytes (1 MB); yield smaller pieces`,
    );
  }
  return body;
}

/** Posts one chunk; throws when it is refused or cannot be delivered after the retries. */
export async function postStreamItem(http: RunpodHttp, template: string, workerId: string, jobId: string, value: unknown): Promise<void> {
  const body = streamChunkBody(value);
  const posted = await http.post(streamUrl(template, workerId, jobId), body, "stream");
  if (!posted.ok) {
    const error = new Error(`a streamed chunk could not be delivered to the stream URL: ${posted.detail}`);
    error.name = "StreamPostError";
    throw error;
  }
}
