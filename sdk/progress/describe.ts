/** Progress events as the short text a person reads on a status line or a plain log line. */
import type { ProgressEvent } from "./events.ts";

const BAR_CELLS = 20;

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** `[#########-----------] 45%` */
export function progressBar(done: number, total: number): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(fraction * BAR_CELLS);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_CELLS - filled)}] ${Math.floor(fraction * 100)}%`;
}

/** What the call is doing, without its label or elapsed time. */
export function describePhase(event: ProgressEvent): string {
  switch (event.phase) {
    case "queued":
      return event.jobsInQueue ? `queued (${event.jobsInQueue} in the endpoint's queue)` : "queued";
    case "waiting-for-worker":
      return `waiting for a worker (${event.workersStarting} starting)`;
    case "started":
      return `on worker ${event.workerId}`;
    case "installing": {
      const what = `${event.tool} ${event.packages.join(", ")}`;
      if (event.done) return `installed ${what}`;
      return event.line ? `installing ${what}: ${event.line}` : `installing ${what}`;
    }
    case "downloading":
      return event.bytesTotal
        ? `downloading ${event.repo} ${progressBar(event.bytesDone, event.bytesTotal)} ${formatBytes(event.bytesDone)} / ${formatBytes(event.bytesTotal)}`
        : `downloading ${event.repo} ${formatBytes(event.bytesDone)}`;
    case "running":
      return "running";
    case "streaming":
      return `streaming (${event.values} values)`;
    case "done": {
      if (event.outcome !== "completed") return `${event.outcome}${event.error ? `: ${event.error}` : ""}`;
      const t = event.timings;
      const parts = [
        t?.queueMs ? `queue ${formatSeconds(t.queueMs)}` : "",
        t?.installMs ? `install ${formatSeconds(t.installMs)}` : "",
        t?.modelDownloadMs ? `models ${formatSeconds(t.modelDownloadMs)}` : "",
        t?.executeMs !== undefined ? `run ${formatSeconds(t.executeMs)}` : "",
      ].filter(Boolean);
      return `done${parts.length ? ` (${parts.join(", ")})` : ""}`;
    }
  }
}
