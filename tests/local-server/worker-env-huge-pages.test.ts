/**
 * Workers the local server starts ask glibc's malloc for transparent huge pages: the tunable is
 * added to GLIBC_TUNABLES (kept when the user set hugetlb already), and a process started with
 * it backs a large fresh buffer with huge pages wherever the kernel allows them (madvise).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { EndpointConfig } from "../../sdk/local-server/endpoint-registry.ts";
import { HUGE_PAGE_TUNABLE, withHugePageTunable, workerEnv } from "../../sdk/local-server/worker-env.ts";

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

describe("huge pages for workers", () => {
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
    const sources = (baseEnv: NodeJS.ProcessEnv) => ({ baseEnv, serverUrl: "http://127.0.0.1:1", endpointDir: "/tmp/ep", pingIntervalMs: 1000 });
    expect(workerEnv(endpoint([]), worker, sources({})).GLIBC_TUNABLES).toBe(HUGE_PAGE_TUNABLE);
    expect(workerEnv(endpoint([]), worker, sources({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2" })).GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${HUGE_PAGE_TUNABLE}`);
    expect(workerEnv(endpoint([{ key: "GLIBC_TUNABLES", value: "glibc.malloc.hugetlb=0" }]), worker, sources({})).GLIBC_TUNABLES).toBe("glibc.malloc.hugetlb=0");
  });

  it.skipIf(process.platform !== "linux" || kernelHugePages() === "never")("a process started with it backs a large fresh buffer with huge pages", () => {
    const { GLIBC_TUNABLES: _, ...base } = process.env;
    expect(hugePagesAfterFill({ ...base, GLIBC_TUNABLES: withHugePageTunable(undefined) })).toBeGreaterThan(0);
  });
});
