/**
 * `make image-check`: the worker images built and run for real, with no Docker engine and no
 * registry. Stand-in bases are made here (debootstrap + buildah), both Dockerfiles are built
 * unchanged with `buildah bud`, and each built image runs `--check`, every test-inputs fixture
 * (results compared with the bundle's outside the image) and a worker taking jobs from the
 * local server over loopback, with a pip and an apt install. A deliberately broken copy of a
 * Dockerfile must fail with its line named. Progress lines as it goes, a summary at the end,
 * figures in <work dir>/report.json, the full log in <work dir>/image-check.log.
 */
import { homedir } from "node:os";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execaSync } from "execa";
import { parseDockerfile } from "../../tests/images/dockerfile-parse.ts";
import { ensureStandIns } from "../../images/stand-ins/build-stand-ins.ts";
import { DEBIAN_RUNNER_MODULES, standInRecipes } from "../../images/stand-ins/recipes.ts";
import { buildImage } from "./build-image.ts";
import { Buildah } from "./buildah.ts";
import { checkDeliberateBreaks } from "./deliberate-breaks.ts";
import { imageFacts, type ImageFacts } from "./image-facts.ts";
import { openContainer, runFixtures, runWorkerCheck } from "./image-runs.ts";
import { runWorkerFromLocalServer } from "./worker-in-image.ts";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/**
 * A machine-wide cache, like a Docker engine's layer store: the Debian root and the stand-ins are
 * kept while their recipes are unchanged, so every checkout on the machine (CI's fresh clones
 * too) builds them once. A machine without it builds all from nothing.
 */
const workDir = resolve(process.env.FERRY_IMAGE_CHECK_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "ferry/image-check"));
const logFile = join(workDir, "image-check.log");
const mirror = process.env.FERRY_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
/**
 * Requirements of the images that the stand-ins' Debian packages do not provide: with PyPI out
 * of reach, the build leaves them out (REQUIREMENTS_LEFT_OUT) and the summary says so.
 */
function requirementsLeftOut(): string[] {
  return readFileSync(join(repoRoot, "images/requirements.txt"), "utf8")
    .split("\n")
    .map((l) => /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(l.replace(/#.*/, ""))?.[1]?.toLowerCase())
    .filter((name): name is string => name !== undefined && !(name in DEBIAN_RUNNER_MODULES));
}
const leftOut = requirementsLeftOut();
/** uv's image cannot be pulled here: the Dockerfiles' no-uv path (the worker installs with pip). */
const BUILD_ARGS = { UV_SOURCE: "none", REQUIREMENTS_LEFT_OUT: leftOut.join(" ") };
const IMAGES = [
  { dockerfile: "Dockerfile", tag: "localhost/ferry-worker:image-check" },
  { dockerfile: "Dockerfile.cpu", tag: "localhost/ferry-worker-cpu:image-check" },
];

const startedAt = performance.now();
const clock = () => {
  const s = Math.floor((performance.now() - startedAt) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
const progress = (line: string) => console.log(`[image-check ${clock()}] ${line}`);

interface Outcome {
  what: string;
  ok: boolean;
  detail: string;
}
const outcomes: Outcome[] = [];
const record = (what: string, ok: boolean, detail: string) => {
  outcomes.push({ what, ok, detail });
  progress(`${ok ? "PASS" : "FAIL"} ${what}: ${detail}`);
};

function preflight(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push("root (buildah's vfs storage and debootstrap need it)");
  for (const tool of ["buildah", "debootstrap"]) {
    if (execaSync("sh", ["-c", 'command -v "$1"', "sh", tool], { reject: false }).exitCode !== 0) missing.push(`${tool} (apt-get install ${tool})`);
  }
  if (!existsSync(join(repoRoot, "dist/handler.mjs"))) missing.push("dist/handler.mjs (make build)");
  if (missing.length > 0) {
    console.error(`image-check cannot run here; missing: ${missing.join("; ")}`);
    process.exit(2);
  }
}

/** The final stage's base, as buildah names it. */
function baseOf(dockerfile: string): string {
  const image = parseDockerfile(readFileSync(join(repoRoot, dockerfile), "utf8")).stages.at(-1)?.image ?? "";
  const qualified = image.split("/")[0]?.includes(".") ? image : image.includes("/") ? `docker.io/${image}` : `docker.io/library/${image}`;
  return qualified;
}

function hostPython(): string {
  const recorded = join(repoRoot, ".ferry/python");
  return process.env.FERRY_PYTHON ?? (existsSync(recorded) ? readFileSync(recorded, "utf8").trim() : "python3");
}

async function main(): Promise<number> {
  preflight();
  mkdirSync(workDir, { recursive: true });
  writeFileSync(logFile, "");
  progress(`work folder ${workDir} (full log: ${logFile})`);
  const buildah = new Buildah({ workDir, logFile });
  await buildah.tidy();
  const globals = (file: string) => parseDockerfile(readFileSync(join(repoRoot, file), "utf8")).globalArgs;
  const gpuArgs = globals("Dockerfile");
  const cpuArgs = globals("Dockerfile.cpu");
  const tags = { python: cpuArgs.PYTHON_TAG ?? "", node: cpuArgs.NODE_TAG ?? "", pytorch: gpuArgs.PYTORCH_TAG ?? "" };

  const standInsStarted = performance.now();
  const built = await ensureStandIns({ buildah, workDir, logFile, mirror, progress }, standInRecipes(tags));
  record("stand-in bases", true, `${built.length} built, ${3 - built.length} kept (${((performance.now() - standInsStarted) / 1000).toFixed(0)} s)`);

  progress("deliberate breaks of Dockerfile.cpu (must fail naming the line)");
  for (const result of await checkDeliberateBreaks(buildah, repoRoot, "Dockerfile.cpu", workDir, BUILD_ARGS)) {
    record(`break: ${result.what}`, result.ok, result.detail);
  }

  const facts: ImageFacts[] = [];
  for (const image of IMAGES) {
    progress(`building ${image.dockerfile} -> ${image.tag}`);
    const build = await buildImage(buildah, { repoRoot, dockerfile: image.dockerfile, tag: image.tag, buildArgs: BUILD_ARGS });
    if (!build.ok) {
      const where = build.failure ? `${build.failure.file}:${build.failure.line}: ${build.failure.step}: ${build.failure.reason}` : build.tail;
      record(`${image.dockerfile} builds`, false, where);
      continue;
    }
    record(`${image.dockerfile} builds`, true, `${(build.ms / 1000).toFixed(0)} s`);

    const container = await openContainer(buildah, image.tag);
    try {
      const check = await runWorkerCheck(buildah, container);
      record(`${image.dockerfile}: --check through the entrypoint`, check.ready === true, `Python ${check.python?.python} at ${check.python?.executable}, target ${check.target} (${check.ms.toFixed(0)} ms)`);

      progress(`${image.dockerfile}: every test-inputs fixture in the image and outside it`);
      await runFixtures({ buildah, repoRoot, hostPython: hostPython(), scratchDir: join(workDir, "fixtures", image.dockerfile), logFile }, container, (run) => {
        const problems = [...run.problems, ...run.differences.map((k) => `${k} differs from outside the image`)];
        record(`${image.dockerfile}: ${run.name}`, problems.length === 0, problems.length === 0 ? `same as outside (${run.insideMs.toFixed(0)} ms)` : problems.join("; "));
      });

      progress(`${image.dockerfile}: a worker in the image taking jobs from the local server`);
      const worker = await runWorkerFromLocalServer(buildah, container, join(repoRoot, "scripts/image-check/container-worker.mjs"));
      for (const job of worker.jobs) record(`${image.dockerfile}: worker job, ${job.what}`, job.ok, job.detail);
      if (worker.jobs.some((j) => !j.ok)) progress(`worker output:\n  ${worker.outputTail.join("\n  ")}`);
      facts.push(await imageFacts(buildah, image.dockerfile, image.tag, baseOf(image.dockerfile), { buildMs: build.ms, checkMs: check.ms, startToReadyMs: worker.startToReadyMs }));
    } finally {
      await buildah.run(["umount", container.name], "buildah umount", { allowFailure: true });
      await buildah.remove(container.name);
    }
  }

  await buildah.tidy();
  const totalS = (performance.now() - startedAt) / 1000;
  writeFileSync(join(workDir, "report.json"), `${JSON.stringify({ totalS, images: facts, outcomes }, null, 2)}\n`);
  const failed = outcomes.filter((o) => !o.ok);
  console.log("\nimage-check summary");
  for (const f of facts) {
    console.log(`  ${f.dockerfile}: ${f.sizeMiB} MiB in ${f.layers} layers (${f.addedMiB} MiB over the base), built in ${(f.buildMs / 1000).toFixed(0)} s, worker start to ready ${f.startToReadyMs} ms`);
  }
  for (const f of failed) console.log(`  FAIL ${f.what}: ${f.detail}`);
  console.log(`  uv: not in these images (its image cannot be pulled here); requirements left out: ${leftOut.length > 0 ? leftOut.join(", ") : "none"}`);
  console.log(`  total ${totalS.toFixed(0)} s`);
  console.log(`${outcomes.length - failed.length} passed, ${failed.length} failed`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`image-check stopped: ${error instanceof Error ? error.message : String(error)}`);
    console.error(`full log: ${logFile}`);
    process.exit(1);
  },
);
