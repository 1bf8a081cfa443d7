/**
 * Runs a built image: a working container, its entrypoint and command as the image's config
 * names them, `--check`, and each test-inputs fixture through the entrypoint, side by side with
 * the same fixture through the bundle outside the image.
 */
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Buildah } from "./buildah.ts";
import { runCommand } from "./commands.ts";
import { outputDifferences } from "./fixture-compare.ts";
import { checkFixture } from "../fixture-check.mjs";

export interface ImageContainer {
  name: string;
  /** The container's root on this machine (buildah mount). */
  root: string;
  /** ENTRYPOINT from the image's config. */
  entrypoint: string[];
  /** CMD from the image's config. */
  cmd: string[];
}

export async function openContainer(buildah: Buildah, image: string): Promise<ImageContainer> {
  const name = await buildah.from(image);
  const root = (await buildah.run(["mount", name], `buildah mount ${name}`)).stdout.trim();
  const inspect = JSON.parse((await buildah.run(["inspect", "--type", "container", name], `buildah inspect ${name}`)).stdout) as {
    OCIv1?: { config?: { Entrypoint?: string[]; Cmd?: string[] } };
  };
  return { name, root, entrypoint: inspect.OCIv1?.config?.Entrypoint ?? [], cmd: inspect.OCIv1?.config?.Cmd ?? [] };
}

export interface CheckLine {
  ready: boolean;
  python?: { python?: string; executable?: string };
  target?: string;
  ms: number;
}

/** `node /app/handler.mjs --check` through the entrypoint: the bundle starts and the Python child answers. */
export async function runWorkerCheck(buildah: Buildah, container: ImageContainer): Promise<CheckLine> {
  const started = performance.now();
  const result = await buildah.exec(container.name, [...container.entrypoint, ...container.cmd, "--check"], "the worker's --check in the image", { timeoutMs: 120_000 });
  const line = result.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`--check printed no JSON line:\n${result.all}`);
  return { ...(JSON.parse(line) as Omit<CheckLine, "ms">), ms: performance.now() - started };
}

export interface FixtureRun {
  name: string;
  /** What the fixture's own expectations found wrong inside the image. */
  problems: string[];
  /** Keys whose values differ between inside and outside the image. */
  differences: string[];
  insideMs: number;
}

export interface FixtureContext {
  buildah: Buildah;
  repoRoot: string;
  /** This machine's Python for the runner (what `make setup` chose). */
  hostPython: string;
  scratchDir: string;
  logFile: string;
}

function fixtureNames(repoRoot: string): string[] {
  return readdirSync(join(repoRoot, "test-inputs")).filter((f) => /^test_.*\.json$/.test(f)).sort();
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** Every fixture through the image's entrypoint and through the bundle here; results compared. */
export async function runFixtures(ctx: FixtureContext, container: ImageContainer, onRun: (run: FixtureRun) => void): Promise<FixtureRun[]> {
  const inImageDir = "/tmp/ferry-fixtures";
  mkdirSync(join(container.root, inImageDir), { recursive: true });
  mkdirSync(ctx.scratchDir, { recursive: true });
  const runs: FixtureRun[] = [];
  for (const name of fixtureNames(ctx.repoRoot)) {
    const fixture = JSON.parse(readFileSync(join(ctx.repoRoot, "test-inputs", name), "utf8")) as { input: unknown };
    const job = JSON.stringify({ input: fixture.input });
    const flags = ["--test_input", job, "--rp_log_level", "WARN"];

    const outsideFile = join(ctx.scratchDir, `${name}.out.json`);
    await runCommand(process.execPath, [join(ctx.repoRoot, "dist/handler.mjs"), ...flags, "--test_output", outsideFile], {
      what: `${name} outside the image`,
      logFile: ctx.logFile,
      cwd: ctx.scratchDir,
      env: { ...process.env, FERRY_PYTHON: ctx.hostPython },
      allowFailure: true,
      timeoutMs: 120_000,
    });

    const started = performance.now();
    const inside = await ctx.buildah.exec(container.name, [...container.entrypoint, ...container.cmd, ...flags, "--test_output", `${inImageDir}/${name}.out.json`], `${name} in the image`, {
      allowFailure: true,
      timeoutMs: 120_000,
    });
    const insideMs = performance.now() - started;
    const insideOutput = readJson(join(container.root, inImageDir, `${name}.out.json`));
    const problems = checkFixture(fixture, insideOutput, inside.exitCode, ctx.hostPython);
    const run = { name, problems, differences: outputDifferences(insideOutput, readJson(outsideFile)), insideMs };
    runs.push(run);
    onRun(run);
  }
  return runs;
}
