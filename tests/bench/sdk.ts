/**
 * Figure group 8 (issue 5): a warm no-op `remote()` call on the local target beside the raw
 * `runsync` request it makes (the very URL and body the SDK sent, replayed with fetch), and
 * calls per second with 16 in flight. One Ferry worker behind the endpoint.
 */
import type { BenchGroup } from "./lib/figures.ts";
import { startBenchServer } from "./lib/bench-server.ts";
import { callsPerSecond, fmt, samplePair, summarize } from "./lib/stats.ts";

interface Captured {
  url: string;
  init: RequestInit;
}

export const sdkGroup: BenchGroup = {
  key: "sdk",
  title: "SDK: warm no-op remote() call vs the raw runsync it makes",
  budgetMs: 60_000,
  quickBudgetMs: 60_000,
  figures: [
    { id: "sdk.call", name: "SDK: warm no-op remote() call (local target, 1 worker)", goal: "p50 ≤ raw runsync p50 + 1 ms" },
    { id: "sdk.throughput", name: "SDK: remote() calls/s with 16 in flight (1 worker)", goal: null },
  ],
  async run(ctx) {
    let sdk: typeof import("../../sdk/index.ts");
    try {
      sdk = await import("../../sdk/index.ts");
      if (typeof sdk.remote !== "function" || typeof sdk.configure !== "function") throw new Error("remote / configure are not exported");
    } catch (error) {
      const reason = `the SDK does not load: ${(error as Error).message.split("\n")[0]}`;
      for (const f of sdkGroup.figures) ctx.skip(f.id, reason);
      return;
    }

    const { server, stateDir } = await startBenchServer(ctx, "ferry-bench-sdk-");

    // The SDK's requests pass through here; the first runsync is kept to replay it raw.
    let recording = false;
    let captured: Captured | undefined;
    const recordingFetch: typeof fetch = (input, init) => {
      if (recording && !captured) {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (url.includes("/runsync")) captured = { url, init: { method: init?.method, headers: init?.headers, body: init?.body } };
      }
      return fetch(input, init);
    };
    await sdk.configure({ localUrl: server.url, stateDir, quiet: true, onLog: false, onProgress: false, fetch: recordingFetch });
    ctx.cleanup(() => sdk.configure({ quiet: true }));

    const resource = new sdk.LiveServerless({ name: "ferry-bench-sdk", workersMin: 0, workersMax: 1, idleTimeout: 600 });
    const noop = sdk.remote(resource).function<[], null>("def noop():\n    return None", "noop");
    await noop(); // provisions the endpoint, starts the worker
    recording = true;
    await noop();
    recording = false;
    if (!captured) throw new Error("the SDK's call made no /runsync request to replay");
    const replay = captured;
    const raw = async () => {
      const res = await fetch(replay.url, replay.init);
      const body = (await res.json()) as { status?: string };
      if (body.status !== "COMPLETED") throw new Error(`the raw runsync answered ${res.status} ${String(body.status)}`);
    };
    const call = async () => {
      const value = await noop();
      if (value !== null) throw new Error(`the no-op answered ${JSON.stringify(value)}`);
    };

    const pair = await samplePair(call, raw, { warmup: 20, iterations: ctx.quick ? 40 : 400, budgetMs: ctx.quick ? 2_000 : 15_000 });
    const sdkStats = summarize(pair.a);
    const rawStats = summarize(pair.b);
    const overhead = sdkStats.p50 - rawStats.p50;
    ctx.report("sdk.call", {
      value: sdkStats.p50,
      unit: "ms",
      stats: sdkStats,
      floor: { name: "the raw runsync the SDK makes (same URL and body, replayed with fetch)", value: rawStats.p50, unit: "ms", stats: rawStats },
      met: overhead <= 1,
      note: `SDK overhead ${fmt(overhead)} ms at p50 (${fmt(sdkStats.min - rawStats.min)} ms at min).`,
      limit: `the SDK adds ${fmt(overhead)} ms (p50) over the same request made raw: building and packing the call, the endpoint lookup, validating and decoding the answer.`,
    });

    const inFlight = 16;
    const windowMs = ctx.quick ? 1_000 : 5_000;
    const { completed, seconds, rate } = await callsPerSecond(call, inFlight, windowMs);
    ctx.report("sdk.throughput", {
      value: rate,
      unit: "calls/s",
      floor: { name: "one client's sequential raw runsync rate (1000 / raw p50)", value: 1000 / rawStats.p50, unit: "calls/s" },
      note: `${completed} calls in ${fmt(seconds)} s, ${inFlight} in flight, on one worker that runs one job at a time.`,
    });
  },
};
