// The logged subprocess utility: no shell, output lines logged, a timeout takes the whole tree,
// and nothing it started outlives the process that started it.
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { runLoggedSubprocess } from "../../handler/subprocess.ts";
import { pino } from "pino";

const run = promisify(execFile);

/** Gone, or a zombie: this container's init does not reap orphans, so a killed one lingers as Z. */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? false;
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

describe("runLoggedSubprocess", () => {
  it("returns exit code and output for a failing command without throwing, and logs each line tagged", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const result = await runLoggedSubprocess("sh", ["-c", "echo out; echo err >&2; exit 3"], { operation: "demo", logger });
    expect(result).toMatchObject({ ok: false, exitCode: 3, stdout: "out", stderr: "err", timedOut: false });
    expect(lines).toEqual(expect.arrayContaining([expect.objectContaining({ operation: "demo", stream: "stdout", msg: "out" })]));
  });

  it("passes arguments without a shell", async () => {
    const result = await runLoggedSubprocess("printf", ["%s", "$(id) ; rm -rf / `x`"], { operation: "no-shell" });
    expect(result.stdout).toBe("$(id) ; rm -rf / `x`");
  });

  it("kills the whole process tree on timeout", async () => {
    const result = await runLoggedSubprocess("sh", ["-c", "sleep 30 & echo $!; wait"], { operation: "tree", timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(await eventually(() => gone(Number(result.stdout)))).toBe(true);
  });

  it("reports a command that cannot start", async () => {
    const result = await runLoggedSubprocess("no-such-command-here", [], { operation: "missing" });
    expect(result.ok).toBe(false);
    expect(result.spawnError).toContain("ENOENT");
  });

  it("leaves nothing running when the process that started it exits", async () => {
    // The parent exits (process.exit) while its subprocess still sleeps.
    const { stdout } = await run(process.execPath, ["--import", "tsx", "tests/subprocess/fixtures/exit-while-running.ts"], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
    });
    const pid = Number(stdout.trim());
    expect(pid).toBeGreaterThan(0);
    expect(await eventually(() => gone(pid))).toBe(true);
  });
});
