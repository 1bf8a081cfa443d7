/**
 * Download progress of one model as log lines: bytes done / total, throttled so a
 * multi-gigabyte download prints a line every few seconds, not one per chunk.
 */

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

export interface ProgressSnapshot {
  model: string;
  bytesDone: number;
  bytesTotal: number;
  bytesDownloaded: number;
  elapsedMs: number;
}

export class ModelProgress {
  private bytesDone: number;
  private downloaded = 0;
  private readonly startedAt: number;
  private lastEmitAt: number;

  constructor(
    private readonly model: string,
    private readonly bytesTotal: number,
    /** Bytes of the selected files already in the cache. */
    alreadyCached: number,
    private readonly emit: (line: string, snapshot: ProgressSnapshot) => void,
    private readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.bytesDone = alreadyCached;
    this.startedAt = now();
    this.lastEmitAt = this.startedAt;
  }

  /** Bytes that arrived over the network. */
  add(bytes: number): void {
    this.bytesDone += bytes;
    this.downloaded += bytes;
    const t = this.now();
    if (t - this.lastEmitAt >= this.intervalMs) {
      this.lastEmitAt = t;
      this.report("downloading");
    }
  }

  /** Bytes found on disk (a partial file being resumed): done, but not downloaded now. */
  addExisting(bytes: number): void {
    this.bytesDone += bytes;
  }

  /** Bytes of a failed attempt: they are on disk, and the next attempt counts them as existing. */
  rollback(bytes: number): void {
    this.bytesDone -= bytes;
  }

  get bytesDownloaded(): number {
    return this.downloaded;
  }

  snapshot(): ProgressSnapshot {
    return {
      model: this.model,
      bytesDone: Math.min(this.bytesDone, this.bytesTotal),
      bytesTotal: this.bytesTotal,
      bytesDownloaded: this.downloaded,
      elapsedMs: this.now() - this.startedAt,
    };
  }

  report(state: "downloading" | "done"): void {
    const s = this.snapshot();
    const pct = s.bytesTotal > 0 ? Math.floor((s.bytesDone / s.bytesTotal) * 100) : 100;
    const seconds = s.elapsedMs / 1000;
    const rate = seconds > 0 ? `${formatBytes(s.bytesDownloaded / seconds)}/s` : "-";
    const line =
      state === "done"
        ? `hf ${this.model}: done, ${formatBytes(s.bytesTotal)} in the cache, ${formatBytes(s.bytesDownloaded)} downloaded in ${seconds.toFixed(1)} s (${rate})`
        : `hf ${this.model}: ${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)} (${pct}%) at ${rate}`;
    this.emit(line, s);
  }
}
