/**
 * Checks a hub cache the way Python's huggingface_hub reads it offline (`refs/<revision>` ->
 * commit -> `snapshots/<commit>/<file>`), in a Python process with only the standard library,
 * comparing every file byte for byte with the source bytes the test wrote.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

const VERIFY = String.raw`
import filecmp, json, os, sys
spec = json.load(sys.stdin)
cache = os.environ["HF_HUB_CACHE"]
assert os.environ.get("HF_HUB_OFFLINE") == "1"
repo_dir = os.path.join(cache, "models--" + spec["repo"].replace("/", "--"))
blobs = os.path.realpath(os.path.join(repo_dir, "blobs"))
commit = spec["commit"]
if spec.get("revision"):
    with open(os.path.join(repo_dir, "refs", spec["revision"])) as f:
        ref = f.read()
    assert ref == commit, "refs/%s holds %r, expected %r" % (spec["revision"], ref, commit)
snap = os.path.join(repo_dir, "snapshots", commit)
for rel, src in sorted(spec["files"].items()):
    p = os.path.join(snap, *rel.split("/"))
    assert os.path.islink(p), "%s is not a symlink" % rel
    target = os.readlink(p)
    assert not os.path.isabs(target) and target.startswith("../"), "%s -> %s" % (rel, target)
    assert os.path.realpath(p).startswith(blobs + os.sep), "%s resolves outside blobs" % rel
    assert filecmp.cmp(p, src, shallow=False), "%s differs from its source" % rel
for rel in spec.get("absent", []):
    assert not os.path.lexists(os.path.join(snap, *rel.split("/"))), "%s should not be cached" % rel
left = [n for n in os.listdir(blobs) if n.endswith(".incomplete")]
assert not left, "partial files left: %s" % left
print(json.dumps({"ok": True, "checked": len(spec["files"])}))
`;

export function pythonInterpreter(): string {
  const configured = join(import.meta.dirname, "..", "..", ".ferry", "python");
  if (process.env.FERRY_PYTHON) return process.env.FERRY_PYTHON;
  if (existsSync(configured)) {
    const path = readFileSync(configured, "utf8").trim();
    if (path) return path;
  }
  return "python3";
}

/** Writes the source bytes under `srcDir`, so Python compares against files, not a digest. */
export async function writeSources(srcDir: string, files: Record<string, Buffer | string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [rel, content] of Object.entries(files)) {
    const path = join(srcDir, ...rel.split("/"));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    out[rel] = path;
  }
  return out;
}

export function verifyWithPython(
  cacheDir: string,
  spec: { repo: string; revision?: string; commit: string; files: Record<string, string>; absent?: string[] },
): Promise<{ ok: boolean; checked: number }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      pythonInterpreter(),
      ["-I", "-c", VERIFY],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: "1" }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`python verification failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout) as { ok: boolean; checked: number });
      },
    );
    child.stdin?.end(JSON.stringify(spec));
  });
}
