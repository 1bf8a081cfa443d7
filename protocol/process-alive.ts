/** Whether a process of this machine is running: it exists (even as another user's) and is not a zombie. */
import { readFileSync } from "node:fs";

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // A killed process whose parent died too can stay a zombie until init reaps it.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    // Without /proc (not Linux) the signal's answer stands; on Linux the process ended between the two looks.
    return process.platform !== "linux";
  }
}
