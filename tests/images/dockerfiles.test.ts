/**
 * What can be checked of the images without a Docker engine: every COPY source exists (after
 * the build made dist/) and is in the build context, the stages are wired as intended, the
 * entrypoint puts caches where it should, and the runner's requirements are what it imports.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { largeValueMallocEnv } from "../../protocol/malloc-env.ts";
import { isIgnored, parseDockerfile, parseDockerignore, type ParsedDockerfile, type Stage } from "./dockerfile-parse.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DOCKERFILES = ["Dockerfile", "Dockerfile.cpu"] as const;
const ignoreRules = parseDockerignore(readFileSync(join(root, ".dockerignore"), "utf8"));

function load(name: string): ParsedDockerfile {
  return parseDockerfile(readFileSync(join(root, name), "utf8"));
}

function filesUnder(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    return e.isDirectory() ? filesUnder(dir, rel) : [rel];
  });
}

beforeAll(() => {
  // The suite's global setup builds dist/; run alone, this builds it once.
  if (!existsSync(join(root, "dist/handler.mjs"))) {
    execFileSync(process.execPath, [join(root, "images/build.mjs"), "--quiet"], { stdio: "inherit", cwd: root });
  }
});

describe.each(DOCKERFILES)("%s", (name) => {
  const parsed = load(name);
  const stageByName = new Map(parsed.stages.filter((s) => s.name).map((s) => [s.name as string, s]));
  const final = parsed.stages[parsed.stages.length - 1] as Stage;

  it("copies from the build context only paths that exist and that .dockerignore lets in", () => {
    const contextCopies = parsed.stages.flatMap((s) => s.copies.filter((c) => c.flags.from === undefined));
    expect(contextCopies.length).toBeGreaterThan(0);
    for (const copy of contextCopies) {
      for (const source of copy.sources) {
        const where = `${name}:${copy.line} ${copy.keyword} ${source}`;
        const path = join(root, source);
        expect(existsSync(path), `${where}: does not exist`).toBe(true);
        expect(isIgnored(ignoreRules, source), `${where}: left out by .dockerignore`).toBe(false);
        if (statSync(path).isDirectory()) {
          const sent = filesUnder(path).filter((f) => !isIgnored(ignoreRules, posix.join(source, f)));
          expect(sent.length, `${where}: .dockerignore leaves nothing of it`).toBeGreaterThan(0);
        }
      }
    }
  });

  it("copies from other stages only what those stages have: the bundle from the build stage, binaries from official images", () => {
    for (const stage of parsed.stages) {
      for (const copy of stage.copies.filter((c) => typeof c.flags.from === "string")) {
        const from = stageByName.get(copy.flags.from as string);
        expect(from, `${name}:${copy.line} --from=${String(copy.flags.from)} names no stage`).toBeDefined();
        if (!from) continue;
        if (from.name === "uv") {
          // uv-release by default; the copy takes the contents of /uv-bin/, which both uv stages lay out.
          expect(from.image).toBe("uv-release");
          expect(copy.sources).toEqual(["/uv-bin/"]);
        } else if (from.name === "build") {
          // The build stage lays out the repository under its WORKDIR: its paths are the repo's, after the build.
          for (const source of copy.sources) {
            expect(source.startsWith(`${from.workdir}/`), `${name}:${copy.line} ${source} outside ${from.workdir}`).toBe(true);
            const inRepo = source.slice((from.workdir as string).length + 1);
            expect(existsSync(join(root, inRepo)), `${name}:${copy.line} ${source}: ${inRepo} does not exist after the build`).toBe(true);
          }
        } else {
          expect(from.image).toMatch(/^(node:\d+-[a-z]+-slim|ghcr\.io\/astral-sh\/uv:\d+\.\d+\.\d+)$/);
        }
      }
    }
  });

  it("starts the worker with the C library's settings for large values that the local server gives its workers", () => {
    const env = new Map<string, string>();
    for (const instruction of final.instructions.filter((i) => i.keyword === "ENV")) {
      for (const m of instruction.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)) env.set(m[1] as string, m[2] as string);
    }
    expect(Object.fromEntries(["MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"].map((k) => [k, env.get(k)]))).toEqual(largeValueMallocEnv({}));
  });

  it("copies into the build stage every folder the worker's sources import from", () => {
    const build = stageByName.get("build") as Stage;
    const copied = new Set(build.copies.filter((c) => c.flags.from === undefined).flatMap((c) => c.sources.map((s) => s.split("/")[0])));
    const imported = new Set<string>();
    for (const file of filesUnder(join(root, "handler")).filter((f) => f.endsWith(".ts"))) {
      const text = readFileSync(join(root, "handler", file), "utf8");
      for (const m of text.matchAll(/from\s+"(\.{1,2}\/[^"]+)"/g)) {
        const target = posix.normalize(posix.join("handler", posix.dirname(file), m[1] as string));
        imported.add(target.split("/")[0] as string);
      }
    }
    expect(imported.has("protocol")).toBe(true);
    for (const folder of imported) {
      expect(copied.has(folder), `${name}: the build stage does not copy ${folder}/, which handler/ imports from`).toBe(true);
      expect(isIgnored(ignoreRules, `${folder}/x.ts`), `.dockerignore leaves out ${folder}/`).toBe(false);
    }
  });

  it("gives the build script every local module it imports before it reads its flags", () => {
    // Static imports load whatever the flags say; the build stage's context must hold them.
    const build = stageByName.get("build") as Stage;
    const copied = build.copies.filter((c) => c.flags.from === undefined).flatMap((c) => c.sources);
    const script = readFileSync(join(root, "images/build.mjs"), "utf8");
    for (const m of script.matchAll(/^import [^;]*? from "(\.\/[^"]+)";$/gm)) {
      const module = posix.join("images", m[1] as string);
      expect(copied.some((s) => module === s || module.startsWith(`${s.replace(/\/$/, "")}/`)), `${name}: images/build.mjs imports ${module}, which the build stage lacks`).toBe(true);
    }
  });

  it("builds the bundle with npm ci and the build script, not make", () => {
    const build = stageByName.get("build");
    expect(build).toBeDefined();
    const runs = (build as Stage).instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
    expect(runs).toEqual(["npm ci --no-audit --no-fund", "npm run build:worker"]);
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts["build:worker"]).toBe("node images/build.mjs --worker-only");
  });

  it("puts only the bundle, the entrypoint and the requirements in the final image", () => {
    const sources = final.copies.flatMap((c) => c.sources.map((s) => `${String(c.flags.from ?? "context")}:${s}`));
    expect(sources.sort()).toEqual(
      ["build:/src/dist/", "context:images/entrypoint.sh", "context:images/requirements.txt", "node:/usr/local/bin/node", "uv:/uv-bin/"].sort(),
    );
    expect(final.instructions.map((i) => i.args).join("\n")).not.toMatch(/node_modules/);
  });

  it("sets the environment, keeps apt's package lists, and starts the worker through the entrypoint", () => {
    const env = final.instructions.filter((i) => i.keyword === "ENV").map((i) => i.args).join(" ");
    expect(env).toMatch(/\bDEBIAN_FRONTEND=noninteractive\b/);
    expect(env).toMatch(/\bPYTHONUNBUFFERED=1\b/);
    // Decided at start by the entrypoint, never baked in.
    expect(env).not.toMatch(/HF_HOME|UV_CACHE_DIR|PIP_CACHE_DIR/);
    const runs = final.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n");
    expect(runs).toMatch(/apt-get update/);
    expect(runs).not.toMatch(/\/var\/lib\/apt\/lists/);
    expect(runs).toMatch(/node \/app\/handler\.mjs --check/);
    const entry = final.instructions.filter((i) => i.keyword === "ENTRYPOINT").map((i) => JSON.parse(i.args) as string[]);
    const cmd = final.instructions.filter((i) => i.keyword === "CMD").map((i) => JSON.parse(i.args) as string[]);
    expect(entry).toEqual([["/usr/bin/tini", "--", "/app/entrypoint.sh"]]);
    expect(cmd).toEqual([["node", "/app/handler.mjs"]]);
    const entrypointCopy = final.copies.find((c) => c.destination === "/app/entrypoint.sh");
    expect(entrypointCopy?.flags.chmod).toBe("0755");
  });
  it("takes uv from the official image, or builds without it when UV_SOURCE=none", () => {
    expect(parsed.globalArgs.UV_SOURCE).toBe("release");
    const release = stageByName.get("uv-release") as Stage;
    expect(release.image).toBe("scratch");
    expect(release.copies.map((c) => [c.flags.from, c.sources, c.destination])).toEqual([["uv-image", ["/uv", "/uvx"], "/uv-bin/"]]);
    expect(stageByName.get("uv-image")?.image).toMatch(/^ghcr\.io\/astral-sh\/uv:\d+\.\d+\.\d+$/);
    const none = stageByName.get("uv-none") as Stage;
    expect(none.instructions.map((i) => `${i.keyword} ${i.args}`)).toEqual(["RUN mkdir /uv-bin"]);
    // `FROM uv-${UV_SOURCE} AS uv`: the build argument picks one of the two.
    expect(readFileSync(join(root, name), "utf8")).toMatch(/^FROM uv-\$\{UV_SOURCE\} AS uv$/m);
  });
});

describe("the two images", () => {
  it("share their build stage, Node and uv", () => {
    const [gpu, cpu] = DOCKERFILES.map(load) as [ParsedDockerfile, ParsedDockerfile];
    expect(gpu.globalArgs.NODE_TAG).toBe(cpu.globalArgs.NODE_TAG);
    expect(gpu.globalArgs.UV_VERSION).toBe(cpu.globalArgs.UV_VERSION);
    const buildOf = (p: ParsedDockerfile) => p.stages.find((s) => s.name === "build")?.instructions.map((i) => `${i.keyword} ${i.args}`);
    expect(buildOf(gpu)).toEqual(buildOf(cpu));
    expect(gpu.stages.at(-1)?.image).toMatch(/^pytorch\/pytorch:[\d.]+-cuda[\d.]+-cudnn\d+-runtime$/);
    expect(cpu.stages.at(-1)?.image).toMatch(/^python:3\.\d+-slim(-\w+)?$/);
  });
});

describe(".dockerignore", () => {
  it("sends the sources the bundle needs and leaves out the rest of the tree", () => {
    for (const kept of ["package.json", "package-lock.json", "tsconfig.json", "protocol/wire.ts", "handler/main.ts", "handler/python/runner.py", "handler/python/ferry_runner/main.py", "images/build.mjs", "images/entrypoint.sh", "images/requirements.txt"]) {
      expect(isIgnored(ignoreRules, kept), kept).toBe(false);
    }
    for (const left of [".git/HEAD", "node_modules/zod/package.json", "dist/handler.mjs", "tests/gpu/discovery.test.ts", "sdk/index.ts", ".ferry/python", "handler/python/__pycache__/runner.cpython-311.pyc", "handler/node_modules/x/index.js", "Dockerfile", "README.md"]) {
      expect(isIgnored(ignoreRules, left), left).toBe(true);
    }
  });
});

describe("images/entrypoint.sh", () => {
  const script = join(root, "images/entrypoint.sh");
  const run = (env: NodeJS.ProcessEnv) => {
    const clean: NodeJS.ProcessEnv = { PATH: process.env.PATH, ...env };
    const r = spawnSync("/bin/sh", [script, "/usr/bin/env"], { env: clean, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    return Object.fromEntries(r.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  };

  it("is executable", () => {
    expect(statSync(script).mode & 0o111).not.toBe(0);
  });

  it("puts the caches on the volume when one is mounted, and execs the command", () => {
    const volume = mkdtempSync(join(tmpdir(), "ferry-volume-"));
    try {
      const env = run({ FERRY_VOLUME_DIR: volume });
      expect(env.HF_HOME).toBe(`${volume}/.cache/huggingface`);
      expect(env.UV_CACHE_DIR).toBe(`${volume}/.cache/uv`);
      expect(env.PIP_CACHE_DIR).toBe(`${volume}/.cache/pip`);
      expect(env.UV_LINK_MODE).toBe("copy");
      for (const dir of [env.HF_HOME, env.UV_CACHE_DIR, env.PIP_CACHE_DIR]) expect(statSync(dir as string).isDirectory()).toBe(true);
    } finally {
      rmSync(volume, { recursive: true, force: true });
    }
  });

  it("keeps a location the template's environment set", () => {
    const volume = mkdtempSync(join(tmpdir(), "ferry-volume-"));
    try {
      const env = run({ FERRY_VOLUME_DIR: volume, HF_HOME: "/models/hf" });
      expect(env.HF_HOME).toBe("/models/hf");
      expect(env.UV_CACHE_DIR).toBe(`${volume}/.cache/uv`);
    } finally {
      rmSync(volume, { recursive: true, force: true });
    }
  });

  it("leaves the tools' defaults alone without a volume", () => {
    const env = run({ FERRY_VOLUME_DIR: join(tmpdir(), "ferry-no-such-volume") });
    expect(env.HF_HOME).toBeUndefined();
    expect(env.UV_CACHE_DIR).toBeUndefined();
    expect(env.PIP_CACHE_DIR).toBeUndefined();
  });
});

describe("images/requirements.txt", () => {
  const requirements = readFileSync(join(root, "images/requirements.txt"), "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l !== "");

  /** Shipped for user code (as RunPod's worker images ship it); the runner does not import it. */
  const forUserCode = ["runpod"];
  const nameOf = (r: string) => (/^[A-Za-z0-9_.-]+/.exec(r)?.[0] ?? r).toLowerCase();
  const runnerRequirements = requirements.filter((r) => !forUserCode.includes(nameOf(r)));

  it("names what the runner imports and what setup checks for, and the runpod package for user code", () => {
    const names = requirements.map(nameOf);
    expect(names.sort()).toEqual(["cloudpickle", "msgpack", "numpy", "packaging", "runpod"]);
    const setup = readFileSync(join(root, "scripts/setup-python.sh"), "utf8");
    for (const n of runnerRequirements.map(nameOf)) expect(setup).toContain(n);
  });

  it("is satisfied by the runner's Python here (valid PEP 508, and bounds that real installs meet); runpod is image-only", () => {
    const recorded = join(root, ".ferry/python");
    const python = process.env.FERRY_PYTHON ?? (existsSync(recorded) ? readFileSync(recorded, "utf8").trim() : "/usr/bin/python3");
    const check = [
      "import json, sys",
      "from importlib.metadata import version",
      "from packaging.requirements import Requirement",
      "out = []",
      "for line in json.loads(sys.argv[1]):",
      "    r = Requirement(line)",
      "    v = version(r.name)",
      "    out.append([line, v, r.specifier.contains(v, prereleases=True)])",
      "print(json.dumps(out))",
    ].join("\n");
    const r = spawnSync(python, ["-c", check, JSON.stringify(runnerRequirements)], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<[string, string, boolean]>;
    for (const [line, version, ok] of rows) expect(ok, `${line} (installed ${version})`).toBe(true);
  });
});
