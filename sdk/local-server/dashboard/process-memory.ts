/**
 * Resident memory of a worker and the processes it started (its Python child, installers), read
 * from Linux's /proc. Elsewhere, or when the process is gone, the answer is null.
 */
import { readFileSync } from "node:fs";

const MAX_DEPTH = 3;

function rssKiB(pid: number): number | null {
  try {
    const match = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** MiB resident in `pid` and its descendants (a few levels down), or null when unknown. */
export function treeMemoryMiB(pid: number | undefined): number | null {
  if (pid === undefined || process.platform !== "linux") return null;
  const own = rssKiB(pid);
  if (own === null) return null;
  let total = own;
  let level = children(pid);
  for (let depth = 0; depth < MAX_DEPTH && level.length > 0; depth++) {
    const next: number[] = [];
    for (const child of level) {
      total += rssKiB(child) ?? 0;
      next.push(...children(child));
    }
    level = next;
  }
  return Math.round((total / 1024) * 10) / 10;
}
