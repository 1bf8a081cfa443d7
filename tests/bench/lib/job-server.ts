/**
 * A minimal stand-in for RunPod's worker-facing job API, kept lean so that it is not what a
 * benchmark measures (tests/helpers/fake-runpod-job-server.ts checks the protocol strictly and
 * records every request; this one only counts).
 *
 * - `always` mode: every job take answers a fresh job at once (a server that always has work).
 * - `queue` mode: takes wait (long poll, up to `holdMs`) for a job put in with `enqueue`.
 * job-done and job-stream answer 200; job-stop polls are held until `holdMs` passes; pings
 * answer 200. `GET /bare` answers a tiny JSON body: the bare HTTP round trip floor.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface BenchJobServerOptions {
  mode: "always" | "queue";
  /** The input of every job handed out. */
  input?: unknown;
  holdMs?: number;
}

export interface TakeEvent {
  jobId: string;
  /** performance.now() when the take that carried the job arrived. */
  at: number;
}

export class BenchJobServer {
  readonly podId = "bench-pod";
  readonly apiKey = "bench-key";
  readonly endpointId = "bench-ep";
  /** Job-take requests received (with or without a job to hand out). */
  takeRequests = 0;
  taken = 0;
  done = 0;
  streamed = 0;
  readonly takes: TakeEvent[] = [];
  private readonly doneWaiters = new Map<string, (at: number) => void>();
  private readonly takeWaiters: Array<(event: TakeEvent) => void> = [];
  private readonly queue: unknown[] = [];
  private readonly held = new Set<{ res: ServerResponse; timer: NodeJS.Timeout; stop: boolean }>();
  private nextId = 1;
  private base = "";
  private readonly server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const match = /\/(job-done|job-stream)\/[^/]+\/([^/?]+)/.exec(url);
        if (match?.[1] === "job-done") {
          this.done += 1;
          const waiter = this.doneWaiters.get(match[2]!);
          if (waiter) {
            this.doneWaiters.delete(match[2]!);
            waiter(performance.now());
          }
        } else if (match?.[1] === "job-stream") {
          this.streamed += 1;
        }
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "2" });
        res.end("{}");
      });
      return;
    }
    if (url.startsWith("/bare")) {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "2" });
      res.end("{}");
      return;
    }
    if (url.includes("/job-take/") || url.includes("/job-take-batch/")) return this.take(res);
    if (url.includes("/job-stop/")) return this.hold(res, true);
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "2" });
    res.end("{}");
  });

  constructor(private readonly options: BenchJobServerOptions) {}

  async start(): Promise<this> {
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  get url(): string {
    return this.base;
  }

  /** The environment RunPod injects into a worker, pointing here. */
  env(): Record<string, string> {
    const v2 = `${this.base}/v2/${this.endpointId}`;
    return {
      RUNPOD_WEBHOOK_GET_JOB: `${v2}/job-take/$RUNPOD_POD_ID?gpu=BENCH`,
      RUNPOD_WEBHOOK_POST_OUTPUT: `${v2}/job-done/$RUNPOD_POD_ID/$ID?gpu=BENCH`,
      RUNPOD_WEBHOOK_POST_STREAM: `${v2}/job-stream/$RUNPOD_POD_ID/$ID?gpu=BENCH`,
      RUNPOD_WEBHOOK_PING: `${v2}/ping/$RUNPOD_POD_ID?gpu=BENCH`,
      RUNPOD_POD_ID: this.podId,
      RUNPOD_AI_API_KEY: this.apiKey,
      RUNPOD_PING_INTERVAL: "10000",
    };
  }

  enqueue(input?: unknown): string {
    const id = `job-${this.nextId++}`;
    this.queue.push({ id, input: input ?? this.options.input ?? {} });
    for (const held of this.held) {
      if (held.stop) continue;
      this.held.delete(held);
      clearTimeout(held.timer);
      if (held.res.destroyed || held.res.socket?.destroyed) continue;
      this.handOut(held.res);
      break;
    }
    return id;
  }

  /** The next take that carries a job. */
  nextTake(): Promise<TakeEvent> {
    return new Promise((resolve) => this.takeWaiters.push(resolve));
  }

  /** When the job-done of `jobId` arrives (performance.now()). */
  doneOf(jobId: string): Promise<number> {
    return new Promise((resolve) => this.doneWaiters.set(jobId, resolve));
  }

  private take(res: ServerResponse): void {
    this.takeRequests += 1;
    if (this.options.mode === "always") {
      this.queue.push({ id: `job-${this.nextId++}`, input: this.options.input ?? {} });
    }
    if (this.queue.length > 0) return this.handOut(res);
    this.hold(res, false);
  }

  private handOut(res: ServerResponse): void {
    const job = this.queue.shift() as { id: string };
    const body = JSON.stringify(job);
    this.taken += 1;
    const event = { jobId: job.id, at: performance.now() };
    if (this.takes.length < 1000) this.takes.push(event);
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
    for (const waiter of this.takeWaiters.splice(0)) waiter(event);
  }

  private hold(res: ServerResponse, stop: boolean): void {
    const entry = {
      res,
      stop,
      timer: setTimeout(() => {
        this.held.delete(entry);
        if (!res.writableEnded && !res.destroyed) {
          res.writeHead(204);
          res.end();
        }
      }, this.options.holdMs ?? 1_000),
    };
    this.held.add(entry);
    res.on("close", () => {
      clearTimeout(entry.timer);
      this.held.delete(entry);
    });
  }

  async close(): Promise<void> {
    for (const held of this.held) {
      clearTimeout(held.timer);
      held.res.destroy();
    }
    this.held.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function startBenchJobServer(options: BenchJobServerOptions): Promise<BenchJobServer> {
  return new BenchJobServer(options).start();
}
