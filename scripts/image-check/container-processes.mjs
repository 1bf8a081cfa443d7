// Processes running in a working container, found by their root directory (the container's
// mount point): `buildah run --isolation chroot` starts its command in a session of its own, so
// signals to buildah's process group do not reach it.
import { readdirSync, readlinkSync, readFileSync } from "node:fs";

function rootOf(pid) {
  try {
    return readlinkSync(`/proc/${pid}/root`);
  } catch {
    return undefined;
  }
}

function parentOf(pid) {
  try {
    // The fields after the command's closing parenthesis: state, ppid, ...
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Pids whose root is `root`; with `topOnly`, those whose parent runs outside it (tini, in an image). */
export function containerProcesses(root, { topOnly = false } = {}) {
  const inside = readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid && rootOf(pid) === root);
  if (!topOnly) return inside;
  const set = new Set(inside);
  return inside.filter((pid) => !set.has(parentOf(pid)));
}

export function signalContainer(root, signal, options) {
  for (const pid of containerProcesses(root, options)) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
