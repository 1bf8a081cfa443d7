/**
 * The default console presentation of a call, seen as a person sees it: a program run under a
 * pseudo-terminal (util-linux `script`) shows a live status line and clears it before it ends;
 * the same program with its output piped prints plain timestamped lines without escape codes.
 */
import { execa } from "execa";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "console-call.ts");
const TSX = join(import.meta.dirname, "..", "..", "node_modules", ".bin", "tsx");
let server: LocalServer;
let dir: string;

function fixtureEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_TEST_URL: server.url, FERRY_TEST_STATE_DIR: join(dir, "state"), TERM: "xterm-256color" };
  delete env.CI;
  delete env.FERRY_QUIET;
  return { ...env, ...extra };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-console-"));
  server = await startLocalServer({ stateDir: join(dir, "state"), persistEndpoints: false });
}, 60_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ESC = "\u001b";
/** util-linux `script` gives the program a pseudo-terminal. */
const haveScript = existsSync("/usr/bin/script");

describe("console presentation", () => {
  it("piped: plain timestamped phase lines, the log line with its prefix, no escape codes", async () => {
    const run = await execa(TSX, [FIXTURE], { env: fixtureEnv(), extendEnv: false, reject: false, timeout: 120_000 });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\[work @ \S+\] working$/m);
    expect(run.stdout).toMatch(/^value: result$/m);
    expect(run.stderr).not.toContain(ESC);
    const phaseLines = run.stderr.split("\n").filter((l) => /^\d\d:\d\d:\d\d\.\d{3} \[work\] /.test(l));
    expect(phaseLines.some((l) => / running \(\d/.test(l))).toBe(true);
    expect(phaseLines.at(-1)).toMatch(/\[work\] done \(.*run \d/);
  }, 150_000);

  it("FERRY_QUIET=1: no phase lines, log lines stay", async () => {
    const run = await execa(TSX, [FIXTURE], { env: fixtureEnv({ FERRY_QUIET: "1" }), extendEnv: false, reject: false, timeout: 120_000 });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^\[work @ \S+\] working$/m);
    expect(run.stderr).not.toMatch(/\[work\] (running|done)/);
  }, 150_000);

  it.runIf(haveScript)("in a terminal: a spinner status line while the call runs, erased before the program ends", async () => {
    // `script` runs the command through a shell; every part of it is a fixed path of this repo.
    // Its pseudo-terminal has no size when `script` has no terminal itself: give it one.
    const run = await execa("script", ["-qfec", `stty cols 100 rows 30; ${TSX} ${FIXTURE}`, "/dev/null"], { env: fixtureEnv(), extendEnv: false, reject: false, timeout: 120_000 });
    expect(run.exitCode, run.stdout).toBe(0);
    const screen = run.stdout;
    expect(screen).toMatch(/work: running · \d+\.\d s/);
    expect(screen).toContain("value: result");
    // After the last status text, the line is erased (ora: cursor to column 0 and erase line).
    const lastStatus = screen.lastIndexOf("work: ");
    const after = screen.slice(lastStatus);
    expect(after).toMatch(new RegExp(`${ESC}\\[(2K|0K|K)|${ESC}\\[G`));
    expect(screen.slice(screen.lastIndexOf("value: result"))).not.toContain("work: running");
    // The cursor is shown again.
    expect(screen).toContain(`${ESC}[?25h`);
  }, 150_000);
});
