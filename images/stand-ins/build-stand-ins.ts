/**
 * Builds the stand-in base images (recipes.ts) in the image check's buildah storage. The
 * debootstrap root is cached as a tarball in the work folder, and a stand-in whose recipe has
 * not changed is kept (a label carries the recipe's hash), so a re-run builds nothing here; a
 * fresh clone builds everything from Debian's mirror.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Buildah } from "../../scripts/image-check/buildah.ts";
import { runCommand } from "../../scripts/image-check/commands.ts";
import type { StandInRecipe } from "./recipes.ts";

const SUITE = "bookworm";
/** What slim images leave out (Docker's Debian images do the same): docs, man pages, locales. */
const DPKG_EXCLUDES = ["path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright", "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*", "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias"];
const LABEL = "ferry.stand-in.recipe";

export interface StandInContext {
  buildah: Buildah;
  workDir: string;
  logFile: string;
  mirror: string;
  progress: (line: string) => void;
}

/** Debian bookworm, minbase, no docs: the root every stand-in starts from (a cached tarball). */
async function minbaseTarball(ctx: StandInContext): Promise<string> {
  const tarball = join(ctx.workDir, `${SUITE}-minbase.tar`);
  if (existsSync(tarball)) return tarball;
  const root = join(ctx.workDir, `${SUITE}-minbase.root`);
  rmSync(root, { recursive: true, force: true });
  ctx.progress(`debootstrap --variant=minbase ${SUITE} from ${ctx.mirror}`);
  await runCommand("debootstrap", ["--variant=minbase", SUITE, root, ctx.mirror], { what: "debootstrap", logFile: ctx.logFile, timeoutMs: 30 * 60_000 });
  mkdirSync(join(root, "etc/dpkg/dpkg.cfg.d"), { recursive: true });
  writeFileSync(join(root, "etc/dpkg/dpkg.cfg.d/ferry-slim"), `${DPKG_EXCLUDES.join("\n")}\n`);
  for (const dir of ["usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt/archives", "var/lib/apt/lists"]) {
    rmSync(join(root, dir), { recursive: true, force: true });
  }
  mkdirSync(join(root, "var/cache/apt/archives/partial"), { recursive: true });
  mkdirSync(join(root, "var/lib/apt/lists/partial"), { recursive: true });
  const partial = `${tarball}.partial`;
  await runCommand("tar", ["--numeric-owner", "-C", root, "-cf", partial, "."], { what: "tar of the minbase root", logFile: ctx.logFile });
  renameSync(partial, tarball);
  rmSync(root, { recursive: true, force: true });
  return tarball;
}

/** This machine's Node: its binary and the npm next to it. */
function hostNode(): { binary: string; npmDir: string; version: string } {
  const binary = realpathSync(process.execPath);
  const npmDir = join(dirname(binary), "..", "lib", "node_modules", "npm");
  if (!existsSync(join(npmDir, "bin", "npm-cli.js"))) throw new Error(`npm not found beside ${binary} (looked in ${npmDir})`);
  return { binary, npmDir, version: process.version };
}

/** Where the stand-in's Node finds this machine's CA bundle. */
const CA_BUNDLE_IN_IMAGE = "/usr/local/share/ferry-stand-in/ca-bundle.pem";

/** The CA bundle this machine's Node is told to trust, when there is one. */
function hostCaBundle(): string | undefined {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  return file && existsSync(file) ? file : undefined;
}

function recipeHash(recipe: StandInRecipe, tarball: string): string {
  const node = recipe.hostNode ? hostNode().version : "";
  const ca = recipe.hostNode && hostCaBundle() ? createHash("sha256").update(readFileSync(hostCaBundle() as string)).digest("hex") : "";
  return createHash("sha256").update(JSON.stringify({ recipe, tarball: statSync(tarball).size, node, excludes: DPKG_EXCLUDES, ...(ca ? { ca } : {}) })).digest("hex").slice(0, 16);
}

async function buildStandIn(ctx: StandInContext, recipe: StandInRecipe, tarball: string, hash: string): Promise<void> {
  const { buildah } = ctx;
  const ctr = (await buildah.run(["from", "--quiet", "scratch"], "buildah from scratch")).stdout.trim();
  try {
    await buildah.run(["add", ctr, tarball, "/"], "adding the minbase root");
    const sh = (what: string, ...command: string[]) => buildah.exec(ctr, command, `${recipe.image}: ${what}`, { envVars: { DEBIAN_FRONTEND: "noninteractive" }, timeoutMs: 30 * 60_000 });
    if (recipe.aptPackages.length > 0) {
      await sh("apt-get update", "apt-get", "update");
      await sh("apt-get install", "apt-get", "install", "-y", "--no-install-recommends", ...recipe.aptPackages);
      await sh("apt-get clean", "apt-get", "clean");
      await sh("removing the package lists", "find", "/var/lib/apt/lists", "-type", "f", "-delete");
    }
    if (recipe.pipInstallsIntoSystemPython) {
      await sh("removing the PEP 668 marker", "find", "/usr/lib", "-maxdepth", "2", "-name", "EXTERNALLY-MANAGED", "-delete");
    }
    if (recipe.pythonLinksIn) {
      const dir = recipe.pythonLinksIn;
      await sh("python links", "mkdir", "-p", dir);
      for (const [name, target] of [["python", "/usr/bin/python3"], ["python3", "/usr/bin/python3"], ["pip", "/usr/bin/pip3"], ["pip3", "/usr/bin/pip3"]] as const) {
        await sh(`link ${name}`, "ln", "-sf", target, `${dir}/${name}`);
      }
    }
    if (recipe.hostNode) {
      const node = hostNode();
      await buildah.run(["copy", ctr, node.binary, "/usr/local/bin/node"], "copying node");
      await buildah.run(["copy", ctr, node.npmDir, "/usr/local/lib/node_modules/npm"], "copying npm");
      await sh("npm link", "ln", "-sf", "../lib/node_modules/npm/bin/npm-cli.js", "/usr/local/bin/npm");
      await sh("npx link", "ln", "-sf", "../lib/node_modules/npm/bin/npx-cli.js", "/usr/local/bin/npx");
    }
    const caBundle = recipe.hostNode ? hostCaBundle() : undefined;
    if (caBundle) {
      await buildah.run(["copy", ctr, caBundle, CA_BUNDLE_IN_IMAGE], "copying this machine's CA bundle");
      await buildah.run(["config", "--env", `NODE_EXTRA_CA_CERTS=${CA_BUNDLE_IN_IMAGE}`, ctr], "buildah config NODE_EXTRA_CA_CERTS");
    }
    await buildah.run(["config", "--env", `PATH=${recipe.path}`, "--cmd", "bash", "--label", `${LABEL}=${hash}`, ctr], "buildah config");
    await buildah.run(["commit", "--quiet", ctr, recipe.image], `committing ${recipe.image}`);
  } finally {
    await buildah.remove(ctr);
  }
}

/** Makes sure every stand-in exists and matches its recipe; returns the ones built now. */
export async function ensureStandIns(ctx: StandInContext, recipes: StandInRecipe[]): Promise<string[]> {
  mkdirSync(ctx.workDir, { recursive: true });
  const tarball = await minbaseTarball(ctx);
  const built: string[] = [];
  for (const recipe of recipes) {
    const hash = recipeHash(recipe, tarball);
    const labels = await ctx.buildah.imageLabels(recipe.image);
    if (labels?.[LABEL] === hash) {
      ctx.progress(`stand-in ${recipe.image}: up to date`);
      continue;
    }
    ctx.progress(`stand-in ${recipe.image}: building`);
    await buildStandIn(ctx, recipe, tarball, hash);
    built.push(recipe.image);
  }
  return built;
}
