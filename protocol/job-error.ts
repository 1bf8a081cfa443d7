/**
 * The `error` of a job whose handler threw, as RunPod's Python worker writes it: a JSON *string*
 * (an object there would leave the job COMPLETED) holding the fields below. Ferry's worker writes
 * it and Ferry's SDK reads it; RunPod's own workers write the same shape.
 */
import { z } from "zod";

export const JobErrorSchema = z.looseObject({
  error_type: z.string().optional(),
  error_message: z.string().optional(),
  error_traceback: z.string().optional(),
  hostname: z.string().optional(),
  worker_id: z.string().optional(),
  runpod_version: z.string().optional(),
  /** Structured extras (a worker start failure's fix and output lines). */
  details: z.record(z.string(), z.unknown()).optional(),
});

export interface JobErrorPayload {
  error_type: string;
  error_message: string;
  error_traceback: string;
  hostname: string;
  worker_id: string;
  runpod_version: string;
}

export function formatJobError(payload: JobErrorPayload): string {
  return JSON.stringify(payload);
}

/** The payload when `text` is such a JSON string with a type or a message; undefined otherwise. */
export function parseJobError(text: string): z.infer<typeof JobErrorSchema> | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  const parsed = JobErrorSchema.safeParse(value);
  if (!parsed.success) return undefined;
  return parsed.data.error_type !== undefined || parsed.data.error_message !== undefined ? parsed.data : undefined;
}
