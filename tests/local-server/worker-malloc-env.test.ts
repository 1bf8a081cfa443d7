/**
 * Workers the local server starts, and the Python children the engine starts, get the C
 * library's settings for large values: a fixed mmap threshold, and transparent huge pages for
 * malloc (added to GLIBC_TUNABLES, kept when the user set hugetlb already). A process started
 * with them backs a large fresh buffer with huge pages wherever the kernel allows them
 * (madvise), and gives a freed multi-MB buffer back to the system.
 */
import { execFileSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { EndpointConfig } from "../../sdk/local-server/endpoint-registry.ts";
import { workerEnv } from "../../sdk/local-server/worker-env.ts";
import { runnerPython } from "../../protocol/python-interpreter.ts";
import { HUGE_PAGE_TUNABLE, largeValueMallocEnv, MMAP_THRESHOLD_BYTES, withHugePageTunable } from "../../protocol/malloc-env.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function kernelHugePages(): string {
  try {
    return /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? "never";
  } catch {
    return "never";
  }
}

/** AnonHugePages (KiB) of a Node process that filled a fresh 64 MB buffer, started with `env`. */
function hugePagesAfterFill(env: NodeJS.ProcessEnv): number {
  const script = `const b = Buffer.allocUnsafe(64 << 20); b.fill(1); const m = /AnonHugePages:\\s+(\\d+)/.exec(require("fs").readFileSync("/proc/self/smaps_rollup", "utf8")); console.log(m ? m[1] : "0"); b[5] = 2;`;
  return Number(execFileSync(process.execPath, ["-e", script], { env, encoding: "utf8", timeout: 30_000 }).trim());
}

/**
 * Resident MB a Python process keeps after freeing ten 5 MB buffers made after a 20 MB one was
 * freed (which, by default, raises glibc's mmap threshold over 5 MB, so they come from the heap).
 */
function retainedAfterFrees(env: NodeJS.ProcessEnv): number {
  const script = [
    "import re",
    "rss = lambda: int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024",
    "base = rss()",
    "b = b'x' * (20 << 20); del b",
    "bs = [b'y' * (5 << 20) for _ in range(10)]; del bs",
    "print(rss() - base)",
  ].join("\n");
  return Number(execFileSync(runnerPython(process.env, REPO_ROOT), ["-c", script], { env, encoding: "utf8", timeout: 30_000 }).trim());
}

describe("the C library's settings for large values", () => {
  it("adds the tunable, appends it to others, and keeps a hugetlb the user chose", () => {
    expect(withHugePageTunable(undefined)).toBe(HUGE_PAGE_TUNABLE);
    expect(withHugePageTunable("")).toBe(HUGE_PAGE_TUNABLE);
    expect(withHugePageTunable("glibc.malloc.arena_max=2")).toBe(`glibc.malloc.arena_max=2:${HUGE_PAGE_TUNABLE}`);
    expect(withHugePageTunable("glibc.malloc.hugetlb=0")).toBe("glibc.malloc.hugetlb=0");
    expect(withHugePageTunable("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2")).toBe("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2");
  });

  it("is in the environment a worker starts with; an endpoint's own GLIBC_TUNABLES wins", () => {
    const endpoint = (env: { key: string; value: string }[]) => ({ template: { env } }) as unknown as EndpointConfig;
    const worker = { podId: "pod", endpointId: "ep", key: "k" };
    const sources = (baseEnv: NodeJS.ProcessEnv) => ({ baseEnv, serverUrl: "http://127.0.0.1:1", endpointDir: "/tmp/ep", pingIntervalMs: 1000, blobFolder: { dir: "/tmp/blobs", urlPrefix: "http://127.0.0.1:1/blobs/" } });
    expect(workerEnv(endpoint([]), worker, sources({})).GLIBC_TUNABLES).toBe(HUGE_PAGE_TUNABLE);
    expect(workerEnv(endpoint([]), worker, sources({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" })).GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${HUGE_PAGE_TUNABLE}`);
    expect(workerEnv(endpoint([{ key: "GLIBC_TUNABLES", value: "glibc.malloc.hugetlb=0" }]), worker, sources({})).GLIBC_TUNABLES).toBe("glibc.malloc.hugetlb=0");
  });

  it("fixes the mmap threshold at 1 MB unless the environment or the endpoint sets one", () => {
    const endpoint = (env: { key: string; value: string }[]) => ({ template: { env } }) as unknown as EndpointConfig;
    const worker = { podId: "pod", endpointId: "ep", key: "k" };
    const sources = (baseEnv: NodeJS.ProcessEnv) => ({ baseEnv, serverUrl: "http://127.0.0.1:1", endpointDir: "/tmp/ep", pingIntervalMs: 1000, blobFolder: { dir: "/tmp/blobs", urlPrefix: "http://127.0.0.1:1/blobs/" } });
    expect(MMAP_THRESHOLD_BYTES).toBe(String(1024 * 1024));
    expect(largeValueMallocEnv({})).toEqual({ MALLOC_MMAP_THRESHOLD_: MMAP_THRESHOLD_BYTES, GLIBC_TUNABLES: HUGE_PAGE_TUNABLE });
    expect(largeValueMallocEnv({ MALLOC_MMAP_THRESHOLD_: "65536" }).MALLOC_MMAP_THRESHOLD_).toBe("65536");
    expect(workerEnv(endpoint([]), worker, sources({})).MALLOC_MMAP_THRESHOLD_).toBe(MMAP_THRESHOLD_BYTES);
    expect(workerEnv(endpoint([{ key: "MALLOC_MMAP_THRESHOLD_", value: "131072" }]), worker, sources({})).MALLOC_MMAP_THRESHOLD_).toBe("131072");
  });

  it.skipIf(process.platform !== "linux")("a process started with them gives freed multi-MB buffers back to the system", () => {
    const { GLIBC_TUNABLES: _t, MALLOC_MMAP_THRESHOLD_: _m, ...base } = process.env;
    expect(retainedAfterFrees(base)).toBeGreaterThanOrEqual(8); // glibc's default keeps them
    expect(retainedAfterFrees({ ...base, ...largeValueMallocEnv(base) })).toBeLessThanOrEqual(3);
  });

  it.skipIf(process.platform !== "linux" || kernelHugePages() === "never")("a process started with it backs a large fresh buffer with huge pages", () => {
    const { GLIBC_TUNABLES: _, ...base } = process.env;
    expect(hugePagesAfterFill({ ...base, GLIBC_TUNABLES: withHugePageTunable(undefined) })).toBeGreaterThan(0);
  });
});
