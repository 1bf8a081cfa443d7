/**
 * processAlive against real processes: a running one, one that ended and was reaped, and a
 * zombie (ended, never reaped by its parent), which counts as gone.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { processAlive } from "../../protocol/process-alive.ts";

describe("processAlive", () => {
  it("is true for a running process and false once it ended and was reaped", async () => {
    expect(processAlive(process.pid)).toBe(true);
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    await once(child, "spawn");
    expect(processAlive(child.pid!)).toBe(true);
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(processAlive(child.pid!)).toBe(false);
  });

  it.skipIf(process.platform !== "linux")("is false for a zombie", async () => {
    // `sleep 0` ends at once; its parent then becomes `sleep 5`, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const [line] = (await once(parent.stdout!, "data")) as [Buffer];
      const zombie = Number(line.toString().trim());
      expect(zombie).toBeGreaterThan(0);
      // The zombie is the process ending: wait until /proc says so, then ask.
      const state = () => {
        const stat = readFileSync(`/proc/${zombie}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      };
      await expect.poll(state, { timeout: 5_000 }).toBe("Z");
      expect(processAlive(zombie)).toBe(false);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
