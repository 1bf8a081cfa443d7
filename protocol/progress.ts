/**
 * Progress of one call, as typed events. The worker sends the phases only it can see
 * (started on a worker, installing, downloading, running) as stream items
 * `{ "progress": WorkerProgress }`; the SDK adds the phases the endpoint API shows (queued,
 * waiting for a worker) and the end (done), and hands them all to `onProgress`.
 */
import { z } from "zod";

const text = z.string().max(2000);

/** Phases the worker reports, as they travel in stream items (zod checks them where they enter the SDK). */
export const WorkerProgressSchema = z.discriminatedUnion("phase", [
  /** A worker took the job. */
  z.object({ phase: z.literal("started"), worker_id: z.string().max(200) }),
  /**
   * One package set being installed: `line` is one readable line condensed from the tool's
   * output; `done` marks the set installed (or found present).
   */
  z.object({
    phase: z.literal("installing"),
    tool: z.enum(["pip", "apt"]),
    packages: z.array(z.string().max(300)).max(500),
    line: text.optional(),
    done: z.boolean().optional(),
  }),
  /** Bytes of one model repo fetched so far. */
  z.object({
    phase: z.literal("downloading"),
    repo: z.string().max(300),
    bytes_done: z.number().nonnegative(),
    bytes_total: z.number().nonnegative().nullable(),
  }),
  /**
   * The Python call began. With `worker_id` when no `started` came before it: a job with
   * nothing to prepare sends this one item (each stream item is one HTTP post on RunPod).
   */
  z.object({ phase: z.literal("running"), worker_id: z.string().max(200).optional() }),
]);
export type WorkerProgress = z.infer<typeof WorkerProgressSchema>;
