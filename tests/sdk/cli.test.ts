/**
 * The `ferry` CLI as users run it (`node bin/ferry.mjs ...`), against a local server started
 * by the test and found through FERRY_LOCAL_URL: deploy a module, deploy again (reuse), ls,
 * health, undeploy one, undeploy --all.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../sdk/cli/program.ts";
import { startLocalServer, type LocalServer } from "../../sdk/local-server/server.ts";

const run = promisify(execFile);
let server: LocalServer;
let dir: string;

async function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_LOCAL_URL: server.url, FERRY_STATE_DIR: join(dir, "state") };
  delete env.RUNPOD_API_KEY;
  delete env.FERRY_TARGET;
  try {
    const { stdout, stderr } = await run(process.execPath, [resolve("bin/ferry.mjs"), ...args], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-cli-"));
  server = await startLocalServer({ stateDir: join(dir, "server"), persistEndpoints: false });
  // A user's project: ESM, like this one.
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  writeFileSync(
    join(dir, "app.ts"),
    `import { LiveServerless, CpuLiveServerless, remote } from ${JSON.stringify(resolve("sdk/index.ts"))};
export const gpu = new LiveServerless({ name: "cli-gpu", workersMax: 1 });
export const cpu = new CpuLiveServerless({ name: "cli-cpu" });
export const hello = remote(cpu).function<[], string>("def hello():\\n    return 'hi'\\n", "hello");
`,
  );
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("ferry CLI", () => {
  it("--help on each command", async () => {
    const top = await ferry("--help");
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: ferry/);
    for (const command of ["serve", "deploy", "ls", "undeploy", "health", "types"]) {
      let text = "";
      const program = buildProgram().exitOverride().configureOutput({ writeOut: (t) => (text += t) });
      for (const sub of program.commands) sub.exitOverride().configureOutput({ writeOut: (t) => (text += t) });
      await expect(program.parseAsync(["node", "ferry", command, "--help"])).rejects.toMatchObject({ code: "commander.helpDisplayed" });
      expect(text).toMatch(new RegExp(`^Usage: ferry ${command}`));
    }
  }, 60_000);

  it("deploy, deploy again, ls, health, undeploy, undeploy --all", async () => {
    const first = await ferry("deploy", join(dir, "app.ts"));
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/cli-gpu\s+\S+\s+created/);
    expect(first.stdout).toMatch(/cli-cpu\s+\S+\s+created/);
    expect(first.stdout).toContain("deployed 2 resources on local");
    expect(server.endpoints().map((e) => e.name).sort()).toEqual(["cli-cpu", "cli-gpu"]);

    const second = await ferry("deploy", join(dir, "app.ts"));
    expect(second.stdout).toMatch(/cli-gpu\s+\S+\s+reused/);

    const ls = await ferry("ls");
    expect(ls.stdout).toMatch(/cli-gpu\s+\S+\s+tracked/);
    expect(ls.stdout).toMatch(/cli-cpu\s+\S+\s+tracked/);

    const health = await ferry("health", "cli-gpu");
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/jobs\s+completed 0/);
    expect(health.stdout).toMatch(/workers\s+idle/);

    const one = await ferry("undeploy", "cli-gpu");
    expect(one.stdout).toMatch(/^undeployed cli-gpu/);
    expect(server.endpoints().map((e) => e.name)).toEqual(["cli-cpu"]);

    const all = await ferry("undeploy", "--all");
    expect(all.stdout).toMatch(/undeployed cli-cpu/);
    expect(server.endpoints()).toEqual([]);
    expect((await ferry("ls")).stdout).toContain("no endpoints on local");
  }, 120_000);

  it("errors say what is wrong: exit 1 for a failure, 2 for a usage error", async () => {
    const r = await ferry("health", "nope");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no endpoint named "nope" is deployed on local');
    const bad = await ferry("--target", "mars", "ls");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/use "local" or "runpod"/);
  }, 60_000);
});
