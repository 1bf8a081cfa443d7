/**
 * The image's payload is dist/ alone. This copies dist/ to an empty directory outside the
 * repository, with no node_modules in it or above it, and runs every job fixture of
 * test-inputs/ through `node handler.mjs --test_input` there: a bundle that still reached for
 * a file or package of the source tree fails here rather than in a container.
 */
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const dist = join(root, "dist");
const fixtureDir = join(root, "test-inputs");
const fixtures = existsSync(fixtureDir) ? readdirSync(fixtureDir).filter((f) => /^test_.*\.json$/.test(f)).sort() : [];
/** One fixture's run: the worker starts a Python child and runs one call. */
const RUN_TIMEOUT_MS = 60_000;

interface Fixture {
  input: unknown;
  expect_error?: unknown;
}

/** The Python that the image's python3 stands for here: one with the runner's modules. */
function runnerPython(): string {
  if (process.env.FERRY_PYTHON) return process.env.FERRY_PYTHON;
  const recorded = join(root, ".ferry", "python");
  if (existsSync(recorded)) return readFileSync(recorded, "utf8").trim();
  return "/usr/bin/python3";
}

function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules"))) found.push(join(d, "node_modules"));
    if (dirname(d) === d) return found;
  }
}

function runWorker(cwd: string, job: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, FERRY_PYTHON: runnerPython() };
  // Nothing may lead the bundle back to the repository's packages or turn on another mode.
  for (const name of ["NODE_PATH", "NODE_OPTIONS", "RUNPOD_WEBHOOK_GET_JOB", "RUNPOD_ENDPOINT_ID", "VITEST", "VITEST_WORKER_ID", "VITEST_POOL_ID"]) delete env[name];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["handler.mjs", "--test_input", job], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

describe("the bundle runs on its own (dist/ copied out of the repository)", () => {
  let work = "";
  let bundle = "";

  beforeAll(() => {
    // The suite's global setup builds dist/; run alone, this builds it once.
    if (!existsSync(join(dist, "handler.mjs"))) {
      execFileSync(process.execPath, [join(root, "images/build.mjs"), "--quiet"], { stdio: "inherit", cwd: root });
    }
    work = mkdtempSync(join(tmpdir(), "ferry-standalone-"));
    bundle = join(work, "app");
    // What `npm run build -- --worker-only` makes in the images' build stage (dist/ here also
    // holds the local server's dashboard, which the images do not get).
    for (const entry of ["handler.mjs", "python"]) cpSync(join(dist, entry), join(bundle, entry), { recursive: true });
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("sits outside the repository with no node_modules in or above it", () => {
    expect(relative(root, bundle).startsWith("..")).toBe(true);
    expect(nodeModulesAbove(bundle)).toEqual([]);
    expect(readdirSync(bundle).sort()).toEqual(["handler.mjs", "python"]);
  });

  it("has job fixtures to run", () => {
    expect(fixtures.length, `no test-inputs/test_*.json in ${fixtureDir}`).toBeGreaterThan(0);
  });

  it.each(fixtures)(
    "%s",
    async (name) => {
      const fixture = JSON.parse(readFileSync(join(fixtureDir, name), "utf8")) as Fixture;
      const { code, stdout, stderr } = await runWorker(bundle, JSON.stringify({ input: fixture.input }));
      const wanted = fixture.expect_error !== undefined ? 1 : 0;
      expect(code, `exit code of ${name}\n--- stdout\n${stdout.slice(-3000)}\n--- stderr\n${stderr.slice(-3000)}`).toBe(wanted);
    },
    RUN_TIMEOUT_MS + 10_000,
  );
});
