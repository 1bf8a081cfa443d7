/**
 * Figure group 7 (issue 4): the local endpoint (`startLocalServer`) with two real Ferry workers
 * (dist/handler.mjs): a warm no-op `runsync` p50/p99 beside a bare loopback HTTP round trip,
 * and throughput with 16 concurrent clients.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { BenchGroup, GroupContext } from "./lib/figures.ts";
import { startBenchServer } from "./lib/bench-server.ts";
import { NOOP_JOB } from "./lib/engine-jobs.ts";
import { callsPerSecond, fmt, samplePair, sleep, summarize, withTimeout } from "./lib/stats.ts";

export interface LocalEndpoint {
  url: string;
  endpointId: string;
  runsyncUrl: string;
  close(): Promise<void>;
}

/** A local server with one endpoint of `workers` warm Ferry workers; the group's cleanup stops it. */
export async function startLocalEndpoint(ctx: GroupContext, workers: number): Promise<LocalEndpoint> {
  const { server } = await startBenchServer(ctx, "ferry-bench-local-");
  const input = {
    name: "ferry-bench",
    gpuIds: "AMPERE_16",
    workersMin: 1,
    workersMax: 1,
    idleTimeout: 600,
    template: { name: "ferry-bench", imageName: "ferry/worker:local", env: [] },
  };
  // One worker first: it creates the endpoint's venv; the others then find it made (two
  // workers starting at once on a fresh state directory race to create it).
  const endpoint = server.saveEndpoint(input);
  const ready = (n: number) =>
    withTimeout(
      (async () => {
        while (server.health(endpoint.id).workers.idle < n) await sleep(100);
      })(),
      90_000,
      `${n} ready Ferry worker(s)`,
    );
  await ready(1);
  if (workers > 1) {
    server.saveEndpoint({ ...input, id: endpoint.id, workersMin: workers, workersMax: workers });
    await ready(workers);
  }
  return { url: server.url, endpointId: endpoint.id, runsyncUrl: `${server.endpointBaseUrl}/${endpoint.id}/runsync`, close: () => server.close() };
}

export async function runsync(url: string, input: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input }) });
  const body = (await res.json()) as Record<string, unknown>;
  if (body.status !== "COMPLETED") throw new Error(`runsync answered ${res.status} ${String(body.status)}: ${JSON.stringify(body).slice(0, 300)}`);
  return body;
}

/** A bare loopback HTTP server (POST, tiny JSON answer): the floor of any HTTP round trip. */
export async function startBareServer(ctx: GroupContext): Promise<{ call: () => Promise<void> }> {
  const bare = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/json", "content-length": "2" }).end("{}"));
  });
  await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
  ctx.cleanup(() => {
    bare.closeAllConnections();
    return new Promise<void>((resolve) => bare.close(() => resolve()));
  });
  const url = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
  return {
    call: async () => {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      await res.text();
    },
  };
}

export const localEndpointGroup: BenchGroup = {
  key: "local-endpoint",
  title: "Local endpoint: warm no-op runsync vs bare loopback HTTP; 16 clients on 2 workers",
  budgetMs: 75_000,
  quickBudgetMs: 60_000,
  figures: [
    { id: "local.runsync", name: "Local endpoint: warm no-op runsync", goal: "p50 ≤ 5 ms" },
    { id: "local.throughput", name: "Local endpoint: throughput, 2 workers, 16 concurrent clients (jobs/s)", goal: null },
  ],
  async run(ctx) {
    try {
      const server = await import("../../sdk/local-server/server.ts");
      if (typeof server.startLocalServer !== "function") throw new Error("startLocalServer is not exported");
    } catch (error) {
      const reason = `sdk/local-server does not load: ${(error as Error).message.split("\n")[0]}`;
      for (const f of localEndpointGroup.figures) ctx.skip(f.id, reason);
      return;
    }
    const local = await startLocalEndpoint(ctx, 2);
    const bare = await startBareServer(ctx);
    const call = () => runsync(local.runsyncUrl, NOOP_JOB);
    const pair = await samplePair(call, bare.call, { warmup: 20, iterations: ctx.quick ? 40 : 400, budgetMs: ctx.quick ? 1_500 : 15_000 });
    const runsyncStats = summarize(pair.a);
    const bareStats = summarize(pair.b);
    ctx.report("local.runsync", {
      value: runsyncStats.p50,
      unit: "ms",
      stats: runsyncStats,
      floor: { name: "bare loopback HTTP POST round trip (node:http server, fetch)", value: bareStats.p50, unit: "ms", stats: bareStats },
      met: runsyncStats.p50 <= 5,
      limit:
        `runsync ${fmt(runsyncStats.p50)} ms against a ${fmt(bareStats.p50)} ms bare round trip: the client's round trip plus the worker's take (a held long poll answered) and its job-done post, ` +
        "each a loopback HTTP exchange, and the Python call.",
    });

    const clients = 16;
    const windowMs = ctx.quick ? 1_000 : 6_000;
    const { completed, seconds, rate } = await callsPerSecond(call, clients, windowMs);
    const perWorkerSerial = 1000 / runsyncStats.p50;
    ctx.report("local.throughput", {
      value: rate,
      unit: "jobs/s",
      floor: { name: "2 × one client's sequential rate (1000 / runsync p50 × 2 workers)", value: 2 * perWorkerSerial, unit: "jobs/s" },
      note: `${completed} no-op jobs in ${fmt(seconds)} s from ${clients} clients each running runsync back to back; every worker takes one job at a time.`,
    });
  },
};
