/**
 * A call's travel against a scripted endpoint (no worker): `/run`, `/stream` and `/status` for
 * a call whose logs or progress are watched, `/runsync` first for one nobody watches. Log items that carry
 * several lines joined by "\n" (the worker coalesces consecutive lines of one stream) reach
 * `onLog` one line per call, and the console printer prefixes every line.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { FunctionRequestInput } from "../../protocol/wire.ts";
import { invoke, invokeStream, type InvokeSpec, type Outcome, type RemoteLogLine } from "../../sdk/call.ts";
import { encodeBase64 } from "../../sdk/codec.ts";
import { EndpointClient } from "../../sdk/transport.ts";

/** Per job: the answers `/stream` gives in turn (the last one repeats), and the final status. */
interface ScriptedJob {
  streams: unknown[];
  final: Record<string, unknown>;
}
const jobs = new Map<string, ScriptedJob>();
const requests: string[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requests.push(`${req.method} ${path}`);
    const send = (body: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    req.resume();
    req.on("end", () => {
      const [, , , route, id] = path.split("/"); // /v2/<endpoint>/<route>/<id>
      // The one scripted job is the one submitted.
      const scripted = [...jobs.keys()][0] ?? "none";
      if (route === "runsync") return send({ id: scripted, status: "IN_PROGRESS" });
      if (route === "run") return send({ id: scripted, status: "IN_QUEUE" });
      const job = jobs.get(id ?? "");
      if (!job) return res.writeHead(404).end("{}");
      if (route === "stream") return send(job.streams.length > 1 ? job.streams.shift() : job.streams[0]);
      if (route === "status") return send(job.final);
      if (route === "cancel") return send({ id, status: "CANCELLED" });
      res.writeHead(404).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
afterEach(() => {
  jobs.clear();
  requests.length = 0;
  vi.restoreAllMocks();
});

function spec(onLog: InvokeSpec["options"]["onLog"], onProgress: InvokeSpec["options"]["onProgress"] = false): InvokeSpec {
  return {
    endpoint: async () => new EndpointClient({ baseUrl: base, endpointId: "ep", keySource: "none" }),
    input: { function_name: "f", function_code: "def f(): pass" } as unknown as FunctionRequestInput,
    options: { onLog, onProgress },
    label: "f",
  };
}

const completed = (id: string, value: unknown) => ({
  id,
  status: "COMPLETED",
  workerId: "w1",
  output: { success: true, result: encodeBase64(value), stdout: "" },
});

function scriptSyncJob(): void {
  jobs.set("job-sync", {
    streams: [
      { status: "IN_PROGRESS", stream: [{ output: { log: { stream: "stdout", line: "one\ntwo\nthree", job_id: "job-sync" } } }] },
      { status: "COMPLETED", stream: [{ output: [{ log: { stream: "stderr", line: "warn a\n\nwarn b", job_id: "job-sync" } }] }] },
    ],
    final: completed("job-sync", 42),
  });
}

describe("multi-line log items", () => {
  it("onLog gets one call per line of a coalesced item", async () => {
    scriptSyncJob();
    const lines: RemoteLogLine[] = [];
    const outcome = await invoke(spec((line) => lines.push(line)));
    expect(outcome.jobId).toBe("job-sync");
    expect(lines.map((l) => [l.stream, l.line, l.job_id])).toEqual([
      ["stdout", "one", "job-sync"],
      ["stdout", "two", "job-sync"],
      ["stdout", "three", "job-sync"],
      ["stderr", "warn a", "job-sync"],
      ["stderr", "", "job-sync"],
      ["stderr", "warn b", "job-sync"],
    ]);
    for (const line of lines) expect(line.source).toMatch(/^f( @ w1)?$/);
    // Watched from the submission on: no /runsync holding the first second's lines.
    expect(requests[0]).toBe("POST /v2/ep/run");
  });

  it("a call nobody watches is submitted with /runsync and followed when it outlasts the wait", async () => {
    scriptSyncJob();
    const outcome = await invoke(spec(false, false));
    expect(outcome.jobId).toBe("job-sync");
    expect(requests[0]).toBe("POST /v2/ep/runsync");
  });

  it("progress items from the worker reach onProgress, stamped with the call's label and job id, and the call ends with done", async () => {
    jobs.set("job-progress", {
      streams: [
        { status: "IN_PROGRESS", stream: [{ output: { progress: { phase: "started", worker_id: "w1" } } }, { output: { progress: { phase: "bogus" } } }] },
        { status: "COMPLETED", stream: [{ output: [{ progress: { phase: "running" } }, { log: { stream: "stdout", line: "hi", worker_id: "w1" } }] }] },
      ],
      final: completed("job-progress", 1),
    });
    const events: unknown[] = [];
    const lines: RemoteLogLine[] = [];
    await invoke(spec((l) => lines.push(l), (e) => events.push(e)));
    expect(events).toEqual([
      expect.objectContaining({ phase: "queued", label: "f", jobId: "job-progress" }),
      expect.objectContaining({ phase: "started", workerId: "w1" }),
      expect.objectContaining({ phase: "running" }),
      expect.objectContaining({ phase: "done", outcome: "completed" }),
    ]);
    expect(lines).toEqual([expect.objectContaining({ line: "hi", source: "f @ w1" })]);
  });

  it("the console printer prefixes every line", async () => {
    scriptSyncJob();
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
    await invoke(spec(undefined));
    vi.restoreAllMocks();
    const prefixed = (writes: string[]) => writes.join("").split("\n").filter(Boolean);
    expect(prefixed(out).map((l) => l.replace(/^\[f( @ w1)?\] /, "<p>"))).toEqual(["<p>one", "<p>two", "<p>three"]);
    expect(err.join("")).toMatch(/^\[f( @ w1)?\] warn a\n\[f( @ w1)?\] \n\[f( @ w1)?\] warn b\n$/);
  });

  it("a streaming call yields values in order and splits its log items too", async () => {
    jobs.set("job-stream", {
      streams: [
        { status: "IN_QUEUE", stream: [] }, // an empty quick answer: the loop pauses, then asks again
        { status: "IN_PROGRESS", stream: [{ output: { log: { stream: "stdout", line: "tick 0\ntick 1" } } }, { output: { value: "v0" } }, { output: { value: "v1" } }] },
        { status: "COMPLETED", stream: [{ output: [{ value: "v2" }, { log: { stream: "log", line: "done\nbye" } }] }] },
      ],
      final: completed("job-stream", [0, 1, 2]),
    });
    const lines: string[] = [];
    const generator = invokeStream(spec((line) => lines.push(line.line)));
    const values: unknown[] = [];
    let outcome: Outcome | undefined;
    for (;;) {
      const step = await generator.next();
      if (step.done) {
        outcome = step.value;
        break;
      }
      values.push(step.value);
    }
    expect(values).toEqual(["v0", "v1", "v2"]);
    expect(lines).toEqual(["tick 0", "tick 1", "done", "bye"]);
    expect(outcome.jobId).toBe("job-stream");
    expect(requests.filter((r) => r.startsWith("GET /v2/ep/stream/"))).toHaveLength(3);
    expect(requests).not.toContain("POST /v2/ep/cancel/job-stream");
  });

  it("leaving a streaming call early cancels its job", async () => {
    jobs.set("job-stream", {
      streams: [{ status: "IN_PROGRESS", stream: [{ output: { value: "v0" } }] }],
      final: completed("job-stream", null),
    });
    for await (const value of invokeStream(spec(false))) {
      expect(value).toBe("v0");
      break;
    }
    await vi.waitFor(() => expect(requests).toContain("POST /v2/ep/cancel/job-stream"));
  });
});
