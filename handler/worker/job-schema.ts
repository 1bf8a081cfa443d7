/**
 * The shape of a job the job server hands out: `{id, input, ...}`. Other keys the platform
 * adds are kept; a job without a string id or without `input` is malformed.
 */
import { z } from "zod";
import type { RunpodJob } from "./types.ts";

const RunpodJobSchema = z
  .looseObject({ id: z.string().min(1), input: z.unknown() })
  .refine((job) => "input" in job, { message: "has no input", path: ["input"] });

export type JobParse = { ok: true; job: RunpodJob } | { ok: false; message: string };

export function parseJob(value: unknown): JobParse {
  const result = RunpodJobSchema.safeParse(value);
  if (result.success) return { ok: true, job: result.data as RunpodJob };
  const issues = result.error.issues.map((i) => `${i.path.join(".") || "job"}: ${i.message}`).join("; ");
  return { ok: false, message: issues };
}
