/**
 * What `/stream` hands out of a job: the chunks its worker streamed past the job's cursor, and,
 * once the job is final, its output as one chunk when it streamed nothing.
 */
import { isFinalStatus } from "../../protocol/runpod-jobs.ts";
import type { Job } from "./job.ts";

/** Chunks not yet handed to `/stream` (moving the cursor past them), and the final output once when nothing was streamed. */
export function drainStream(job: Job): unknown[] {
  const chunks = job.stream.slice(job.streamCursor).map((output) => ({ output }));
  job.streamCursor = job.stream.length;
  if (isFinalStatus(job.status) && !job.finalChunkSent) {
    job.finalChunkSent = true;
    if (job.stream.length === 0 && job.hasOutput) chunks.push({ output: job.output });
  }
  return chunks;
}

export function hasUnreadStream(job: Job): boolean {
  return job.streamCursor < job.stream.length || (isFinalStatus(job.status) && !job.finalChunkSent);
}
