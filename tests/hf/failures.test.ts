/**
 * Each failure cache-ahead reports as ModelDownloadError with its reason, leaves no file that
 * passes for complete, and a later call (the fault gone) completes the download.
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { blobPath, incompletePath, pointerPath } from "../../handler/hf/cache-layout.ts";
import { cacheModels, ModelDownloadError } from "../../handler/hf/index.ts";
import { silentLogger } from "../../protocol/logger.ts";
import { startFakeHfHub, type FakeHfHub } from "../helpers/fake-hf-hub.ts";
import { capturingLogger, smallModelFiles } from "./fixtures.ts";
import { verifyWithPython, writeSources } from "./python-verify.ts";

let hub: FakeHfHub;
let work: string;
const TOKEN = "hf_acceptedToken0987654321";
const WRONG = "hf_someoneElsesToken1234";

beforeAll(async () => {
  // The library prints each file it starts to stdout; keep test output readable.
  vi.spyOn(console, "debug").mockImplementation(() => undefined);
  hub = await startFakeHfHub({ acceptedTokens: [TOKEN] });
  work = await mkdtemp(join(tmpdir(), "ferry-hf-fail-"));
});
afterAll(async () => {
  vi.restoreAllMocks();
  await hub.close();
  await rm(work, { recursive: true, force: true });
});

async function caught(p: Promise<unknown>): Promise<ModelDownloadError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelDownloadError);
  const e = err as ModelDownloadError;
  expect(e.name).toBe("ModelDownloadError");
  return e;
}

const base = (cacheDir: string) => ({ logger: silentLogger(), cacheDir, hubUrl: hub.url, retryDelayMs: 0 });

describe("cache-ahead failures", () => {
  it("a repo that does not exist", async () => {
    const cacheDir = await mkdtemp(join(work, "missing-"));
    const e = await caught(cacheModels(["acme/does-not-exist"], base(cacheDir)));
    expect(e).toMatchObject({ repo: "acme/does-not-exist", reason: "repo-not-found", status: 404 });
    expect(e.message).toContain("acme/does-not-exist");

    hub.addRepo("acme/does-not-exist", smallModelFiles("late"));
    await expect(cacheModels(["acme/does-not-exist"], base(cacheDir))).resolves.toMatchObject({ models: [{ fromCache: false }] });
  });

  it("a gated repo without a token (401), with a token that has no access (403), then with one that has", async () => {
    const files = smallModelFiles("gated");
    const { commit } = hub.addRepo("acme/gated", files, { gated: true });
    const cacheDir = await mkdtemp(join(work, "gated-"));
    const { logger, lines } = capturingLogger();

    const noToken = await caught(cacheModels(["acme/gated"], { ...base(cacheDir), logger, env: {} }));
    expect(noToken).toMatchObject({ repo: "acme/gated", reason: "gated", status: 401 });
    expect(noToken.message).toMatch(/set HF_TOKEN/);

    const wrong = await caught(cacheModels(["acme/gated"], { ...base(cacheDir), logger, env: { HF_TOKEN: WRONG } }));
    expect(wrong).toMatchObject({ reason: "gated", status: 403 });
    expect(wrong.message).not.toContain(WRONG);

    await cacheModels(["acme/gated"], { ...base(cacheDir), logger, env: { HF_TOKEN: TOKEN } });
    await verifyWithPython(cacheDir, { repo: "acme/gated", revision: "main", commit, files: await writeSources(join(work, "src-gated"), files) });
    const logged = lines.join("\n");
    expect(logged).toContain("gated");
    expect(logged).not.toContain(WRONG);
    expect(logged).not.toContain(TOKEN);
  });

  it("a private repo without a token reads as not found, as on the hub", async () => {
    hub.addRepo("acme/private", smallModelFiles("private"), { private: true });
    const cacheDir = await mkdtemp(join(work, "private-"));
    const e = await caught(cacheModels(["acme/private"], { ...base(cacheDir), env: {} }));
    expect(e).toMatchObject({ reason: "repo-not-found", status: 401 });
    expect(e.message).toMatch(/private or gated, set HF_TOKEN/);
    await expect(cacheModels(["acme/private"], { ...base(cacheDir), env: { HF_TOKEN: TOKEN } })).resolves.toBeTruthy();
  });

  it("a revision that does not exist, then one that does", async () => {
    const { commit } = hub.addRepo("acme/revs", smallModelFiles("revs"), { tags: ["v2"] });
    const cacheDir = await mkdtemp(join(work, "revs-"));
    const e = await caught(cacheModels(["acme/revs@v9"], base(cacheDir)));
    expect(e).toMatchObject({ repo: "acme/revs", revision: "v9", reason: "revision-not-found", status: 404 });
    const badSha = await caught(cacheModels(["acme/revs@ffffffffffffffffffffffffffffffffffffffff"], base(cacheDir)));
    expect(badSha.reason).toBe("revision-not-found");
    await expect(cacheModels(["acme/revs@v2"], base(cacheDir))).resolves.toMatchObject({ models: [{ commit }] });
  });

  it("a connection closed mid-file: no blob passes for complete, and the next call resumes the partial file", async () => {
    const files = smallModelFiles("cut");
    const { commit, files: made } = hub.addRepo("acme/cut", files);
    const weights = made.find((f) => f.path === "model.safetensors")!;
    const cacheDir = await mkdtemp(join(work, "cut-"));
    const cutAt = 1024 * 1024 + 5;
    hub.setMidFileFault({ path: "model.safetensors", afterBytes: cutAt });

    const e = await caught(cacheModels(["acme/cut"], { ...base(cacheDir), retries: 0 }));
    expect(e).toMatchObject({ repo: "acme/cut", reason: "network" });
    // Nothing named like a finished file: no blob, no snapshot link, no ref, only the partial.
    await expect(stat(blobPath(cacheDir, "acme/cut", weights.sha256))).rejects.toThrow();
    await expect(stat(pointerPath(cacheDir, "acme/cut", commit, "model.safetensors"))).rejects.toThrow();
    await expect(stat(join(cacheDir, "models--acme--cut", "refs", "main"))).rejects.toThrow();
    const partial = await stat(incompletePath(cacheDir, "acme/cut", weights.sha256));
    expect(partial.size).toBeGreaterThan(0);
    expect(partial.size).toBeLessThanOrEqual(cutAt);

    hub.setMidFileFault(null);
    hub.resetRequests();
    const report = await cacheModels(["acme/cut"], { ...base(cacheDir), retries: 0 });
    // The cut file resumes; under load another file of the model may have been stopped mid-way
    // by the first failure too, and resumes the same way.
    expect(report.models[0]!.filesResumed).toBeGreaterThanOrEqual(1);
    const ranged = hub.requests.filter((r) => r.path.endsWith("/model.safetensors") && r.range === `bytes=${partial.size}-`);
    expect(ranged).toHaveLength(1);
    await verifyWithPython(cacheDir, { repo: "acme/cut", revision: "main", commit, files: await writeSources(join(work, "src-cut"), files) });
    expect((await readdir(join(cacheDir, "models--acme--cut", "blobs"))).filter((n) => n.endsWith(".incomplete"))).toEqual([]);
  });

  it("a connection closed once is retried within the call, resuming where it stopped", async () => {
    const files = smallModelFiles("once");
    const { commit } = hub.addRepo("acme/once", files);
    const cacheDir = await mkdtemp(join(work, "once-"));
    hub.setMidFileFault({ path: "model.safetensors", afterBytes: 2 * 1024 * 1024, times: 1 });
    hub.resetRequests();
    const lines: string[] = [];
    const report = await cacheModels(["acme/once"], { ...base(cacheDir), retries: 2, onLog: (l) => lines.push(l) });
    // The cut file resumes; under load another file of the model may have been stopped mid-way
    // by the first failure too, and resumes the same way.
    expect(report.models[0]!.filesResumed).toBeGreaterThanOrEqual(1);
    expect(lines.join("\n")).toMatch(/downloading model\.safetensors failed \(network\); attempt 2 of 3/);
    expect(hub.requests.some((r) => r.path.endsWith("/model.safetensors") && r.range?.startsWith("bytes=") && r.range !== "bytes=0-0")).toBe(true);
    await verifyWithPython(cacheDir, { repo: "acme/once", revision: "main", commit, files: await writeSources(join(work, "src-once"), files) });
  });

  it("a hub that cannot be reached", async () => {
    const gone = await startFakeHfHub();
    const url = gone.url;
    await gone.close();
    const cacheDir = await mkdtemp(join(work, "down-"));
    const e = await caught(cacheModels(["acme/anything"], { logger: silentLogger(), cacheDir, hubUrl: url, retries: 0 }));
    expect(e).toMatchObject({ repo: "acme/anything", reason: "network" });
  });

  it("invalid model ids fail before any request or write", async () => {
    const cacheDir = await mkdtemp(join(work, "invalid-"));
    hub.resetRequests();
    for (const bad of ["../../etc/passwd", "org/..", "org/name@../../../tmp/x", "just-a-name"]) {
      const e = await caught(cacheModels(["acme/ok", bad], base(cacheDir)));
      expect(e.reason).toBe("invalid-model-id");
    }
    expect(hub.requests).toEqual([]);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it("a listing with a path that leaves the snapshot is refused before anything is written", async () => {
    hub.addRepo("acme/evil", { "config.json": "{}", "../../../escaped.txt": "x", "sub/../../up.txt": "y" });
    const root = await mkdtemp(join(work, "evil-"));
    const cacheDir = join(root, "cache");
    const e = await caught(cacheModels(["acme/evil"], base(cacheDir)));
    expect(e).toMatchObject({ repo: "acme/evil", reason: "invalid-response" });
    expect(e.message).toMatch(/unsafe file path/);
    expect(await readdir(root)).toEqual([]);
  });

  it("bad options are refused as invalid-options", async () => {
    const cacheDir = await mkdtemp(join(work, "opts-"));
    const e = await caught(cacheModels(["acme/x"], { ...base(cacheDir), concurrency: 0 }));
    expect(e.reason).toBe("invalid-options");
    const e2 = await caught(cacheModels(["acme/x"], { logger: silentLogger(), cacheDir, env: { HF_ENDPOINT: "ftp://mirror" } }));
    expect(e2.reason).toBe("invalid-options");
  });

  it("a cancelled call stops with reason aborted", async () => {
    hub.addRepo("acme/cancel", smallModelFiles("cancel"));
    const cacheDir = await mkdtemp(join(work, "cancel-"));
    const controller = new AbortController();
    controller.abort();
    const e = await caught(cacheModels(["acme/cancel"], { ...base(cacheDir), signal: controller.signal }));
    expect(e.reason).toBe("aborted");
  });
});
