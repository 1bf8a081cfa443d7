/**
 * One job-take request and what its answer means: jobs, no job (204, 400, an empty or
 * non-JSON body), rate limited (429), or an error the loop backs off from.
 */
import type { Logger } from "../../protocol/logger.ts";
import type { RunpodHttp } from "./http.ts";
import { parseJob } from "./job-schema.ts";
import type { RunpodJob } from "./types.ts";

export type TakeResult =
  | { kind: "jobs"; jobs: RunpodJob[] }
  | { kind: "none" }
  | { kind: "rate-limited" }
  | { kind: "error"; message: string }
  | { kind: "stopped" };

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError");
}

export async function takeJobs(http: RunpodHttp, url: string, stop: AbortSignal, timeoutMs: number, logger: Logger): Promise<TakeResult> {
  let text: string;
  try {
    const res = await http.get(url, stop, timeoutMs);
    if (res.status === 204 || res.status === 400) return { kind: "none" };
    if (res.status === 429) return { kind: "rate-limited" };
    if (!res.ok) return { kind: "error", message: `job take answered HTTP ${res.status}${res.text ? `: ${res.text.slice(0, 200)}` : ""}` };
    if (!res.contentType.toLowerCase().includes("application/json")) {
      logger.debug({ contentType: res.contentType }, "job take answered without JSON; no job");
      return { kind: "none" };
    }
    text = res.text;
  } catch (error) {
    if (stop.aborted) return { kind: "stopped" };
    // The long poll ran its full time: the server had no job for us.
    if (isAbort(error)) return { kind: "none" };
    return { kind: "error", message: `job take failed: ${error instanceof Error ? error.message : String(error)}` };
  }

  if (text.trim() === "") return { kind: "none" };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    logger.warn({ body: text.slice(0, 200) }, "job take answered unparsable JSON; skipped");
    return { kind: "none" };
  }
  const candidates = Array.isArray(body) ? body : [body];
  const jobs: RunpodJob[] = [];
  for (const candidate of candidates) {
    const parsed = parseJob(candidate);
    if (parsed.ok) jobs.push(parsed.job);
    else logger.error({ problem: parsed.message }, "malformed job from the job server; skipped");
  }
  return jobs.length > 0 ? { kind: "jobs", jobs } : { kind: "none" };
}
