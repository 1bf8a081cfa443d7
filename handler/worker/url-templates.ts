/**
 * RunPod's injected URL templates. `$RUNPOD_POD_ID` becomes the worker id everywhere; then
 * `$ID` becomes the worker id in the job-take and ping URLs and the job id in the job-done and
 * stream URLs. Templates already carry a query string, so parameters are appended with `&`.
 */

export function fillTemplate(template: string, workerId: string, idValue: string): string {
  // Ids are path segments: a job id holding `../` or `?` must not change which URL is called.
  return template.split("$RUNPOD_POD_ID").join(encodeURIComponent(workerId)).split("$ID").join(encodeURIComponent(idValue));
}

export function withQuery(url: string, params: Record<string, string | number>): string {
  const pairs = Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  if (pairs.length === 0) return url;
  const joiner = !url.includes("?") ? "?" : url.endsWith("?") || url.endsWith("&") ? "" : "&";
  return url + joiner + pairs.join("&");
}

export function jobTakeUrl(template: string, workerId: string, batchSize: number, jobInProgress: boolean): string {
  const base = fillTemplate(template, workerId, workerId);
  const inProgress = jobInProgress ? "1" : "0";
  if (batchSize > 1) {
    return withQuery(base.replace("/job-take/", "/job-take-batch/"), { batch_size: batchSize, job_in_progress: inProgress });
  }
  return withQuery(base, { job_in_progress: inProgress });
}

export function jobStopUrl(template: string, workerId: string): string {
  return fillTemplate(template, workerId, workerId).replace("/job-take/", "/job-stop/");
}

export function jobDoneUrl(template: string, workerId: string, jobId: string, isStream: boolean): string {
  return withQuery(fillTemplate(template, workerId, jobId), { isStream: isStream ? "true" : "false" });
}

export function streamUrl(template: string, workerId: string, jobId: string): string {
  return withQuery(fillTemplate(template, workerId, jobId), { isStream: "false" });
}

export function pingUrl(template: string, workerId: string, jobIds: readonly string[], version: string): string {
  const params: Record<string, string> = {};
  if (jobIds.length > 0) params.job_id = jobIds.join(",");
  params.runpod_version = version;
  return withQuery(fillTemplate(template, workerId, workerId), params);
}
