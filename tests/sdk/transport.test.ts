/**
 * The endpoint API client against a small scripted HTTP server: retries on 429 and gateway
 * errors (honouring Retry-After), none on other errors, AuthenticationError naming the key
 * source, retries on connection errors, and aborts that end the request. Requests that are not
 * idempotent (`/run`, `/runsync`, creating an endpoint) are retried only where the server cannot
 * have taken them: 429 and failures before a connection. Answers are parsed, extra fields kept.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ApiError, AuthenticationError, ConnectionError, ProvisioningError, RateLimitError } from "../../sdk/errors.ts";
import { GraphqlClient } from "../../sdk/provisioning.ts";
import type { EndpointInput } from "../../sdk/resources.ts";
import { EndpointClient } from "../../sdk/transport.ts";

type Reply = (req: IncomingMessage, res: ServerResponse) => void;
let replies: Reply[] = [];
let lastAgent: string | undefined;
const seen: { method: string; url: string; auth: string | undefined }[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization });
    lastAgent = req.headers["user-agent"];
    const reply = replies.shift();
    if (!reply) {
      res.writeHead(500).end("no scripted reply");
      return;
    }
    reply(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  replies = [];
  seen.length = 0;
});

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => (_req, res) => {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
};
const client = (apiKey = "k-123") =>
  new EndpointClient({ baseUrl: base, endpointId: "ep1", apiKey, keySource: "the RUNPOD_API_KEY environment variable", retry: { maxRetries: 3, baseDelayMs: 5, maxDelayMs: 20 } });

describe("EndpointClient", () => {
  it("sends the key as a Bearer token to RunPod's routes", async () => {
    replies.push(json(200, { id: "j1", status: "IN_QUEUE" }), json(200, { id: "j1", status: "COMPLETED", output: 1 }));
    expect(await client().run({ input: { a: 1 } })).toEqual({ id: "j1", status: "IN_QUEUE" });
    expect((await client().runsync({ input: {} }, 5000)).status).toBe("COMPLETED");
    expect(seen).toEqual([
      { method: "POST", url: "/v2/ep1/run", auth: "Bearer k-123" },
      { method: "POST", url: "/v2/ep1/runsync?wait=5000", auth: "Bearer k-123" },
    ]);
  });

  it("retries 429 (honouring Retry-After) and 503, then succeeds", async () => {
    replies.push(json(429, { error: "slow down" }, { "retry-after": "0.01" }), json(503, {}), json(200, { id: "j", status: "IN_PROGRESS" }));
    expect((await client().status("j")).status).toBe("IN_PROGRESS");
    expect(seen).toHaveLength(3);
  });

  it("gives up on 429 with RateLimitError after the retries", async () => {
    for (let i = 0; i < 4; i++) replies.push(json(429, {}));
    await expect(client().status("j")).rejects.toBeInstanceOf(RateLimitError);
    expect(seen).toHaveLength(4);
  });

  it("does not retry other errors", async () => {
    replies.push(json(400, { error: "bad input" }));
    const error = await client()
      .run({ input: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect(seen).toHaveLength(1);
  });

  it("401 is AuthenticationError naming the key source", async () => {
    replies.push(json(401, { error: "unauthorized" }));
    const error = (await client("stale")
      .run({ input: 1 })
      .catch((e: unknown) => e)) as AuthenticationError;
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error.message).toContain("the RUNPOD_API_KEY environment variable");
    expect(seen).toHaveLength(1);
  });

  it("retries a refused connection, then fails with ConnectionError", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const dead = new EndpointClient({ baseUrl: `http://127.0.0.1:${port}/v2`, endpointId: "x", keySource: "none", retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    const error = await dead.status("j").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });

  it("honours a Retry-After given as an HTTP date", async () => {
    // HTTP dates have whole seconds: two seconds ahead is at least one second from now.
    replies.push(json(503, {}, { "retry-after": new Date(Date.now() + 2000).toUTCString() }), json(200, { id: "j", status: "IN_QUEUE" }));
    const patient = new EndpointClient({ baseUrl: base, endpointId: "ep1", keySource: "none", retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 1000 } });
    const started = Date.now();
    expect((await patient.status("j")).status).toBe("IN_QUEUE");
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(seen).toHaveLength(2);
  });

  it("an abort during a Retry-After wait rejects at once with the signal's reason", async () => {
    replies.push(json(429, {}, { "retry-after": "30" }));
    const patient = new EndpointClient({ baseUrl: base, endpointId: "ep1", keySource: "none", retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 10_000 } });
    const controller = new AbortController();
    const reason = new Error("the caller stopped");
    const started = Date.now();
    const pending = patient.run({ input: 1 }, controller.signal);
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    // Well into the 30 s wait the 429 asked for.
    await new Promise((r) => setTimeout(r, 200));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(seen).toHaveLength(1);
  });

  it("an abort ends a held request at once", async () => {
    replies.push(() => undefined); // never answers
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error("stop")), 30);
    await expect(client().stream("j", controller.signal)).rejects.toThrow("stop");
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

/** A fetch that fails like undici does (`TypeError: fetch failed` with the socket error as cause), counting its calls. */
function failingFetch(code: string, message = code): { fetch: typeof fetch; calls: () => number } {
  let calls = 0;
  const fake = (async () => {
    calls++;
    throw new TypeError("fetch failed", { cause: Object.assign(new Error(message), { code }) });
  }) as unknown as typeof fetch;
  return { fetch: fake, calls: () => calls };
}
const clientWith = (fetchImpl: typeof fetch) =>
  new EndpointClient({ baseUrl: base, endpointId: "ep1", keySource: "none", fetch: fetchImpl, retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2 } });

describe("retries and idempotency", () => {
  it("/run answered 503 is not retried: one request, ApiError", async () => {
    replies.push(json(503, { error: "upstream" }), json(200, { id: "j2", status: "IN_QUEUE" }));
    const error = await client()
      .run({ input: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(503);
    expect(seen.map((r) => r.url)).toEqual(["/v2/ep1/run"]);
  });

  it("/runsync answered 502 or 504 is not retried", async () => {
    for (const status of [502, 504]) {
      seen.length = 0;
      replies = [json(status, {}), json(200, { id: "j", status: "COMPLETED" })];
      const error = await client()
        .runsync({ input: 1 }, 1000)
        .catch((e: unknown) => e);
      expect((error as ApiError).status).toBe(status);
      expect(seen).toHaveLength(1);
    }
  });

  it("/status answered 503 once is retried", async () => {
    replies.push(json(503, {}), json(200, { id: "j", status: "IN_QUEUE" }));
    expect((await client().status("j")).status).toBe("IN_QUEUE");
    expect(seen.map((r) => r.url)).toEqual(["/v2/ep1/status/j", "/v2/ep1/status/j"]);
  });

  it("/cancel and /stream answered 503 once are retried", async () => {
    replies.push(json(503, {}), json(200, { id: "j", status: "CANCELLED" }), json(504, {}), json(200, { status: "IN_PROGRESS", stream: [] }));
    expect((await client().cancel("j")).status).toBe("CANCELLED");
    expect((await client().stream("j")).status).toBe("IN_PROGRESS");
    expect(seen).toHaveLength(4);
  });

  it("/run answered 429 is retried (the request was turned away)", async () => {
    replies.push(json(429, {}, { "retry-after": "0" }), json(200, { id: "j3", status: "IN_QUEUE" }));
    expect((await client().run({ input: 1 })).id).toBe("j3");
    expect(seen).toHaveLength(2);
  });

  it("a reset connection ends /run at once, and is retried for /status", async () => {
    const run = failingFetch("ECONNRESET", "read ECONNRESET");
    await expect(clientWith(run.fetch).run({ input: 1 })).rejects.toBeInstanceOf(ConnectionError);
    expect(run.calls()).toBe(1);
    for (const code of ["EPIPE", "UND_ERR_SOCKET"]) {
      const sync = failingFetch(code);
      await expect(clientWith(sync.fetch).runsync({ input: 1 }, 1000)).rejects.toBeInstanceOf(ConnectionError);
      expect(sync.calls()).toBe(1);
    }
    const status = failingFetch("ECONNRESET");
    await expect(clientWith(status.fetch).status("j")).rejects.toBeInstanceOf(ConnectionError);
    expect(status.calls()).toBe(4);
  });

  it("a server that drops the connection after reading /run sees it once; /status is sent again", async () => {
    const drop: Reply = (req) => req.socket.destroy();
    replies.push(drop, json(200, { id: "j4", status: "IN_QUEUE" }));
    await expect(client().run({ input: 1 })).rejects.toBeInstanceOf(ConnectionError);
    expect(seen).toHaveLength(1);
    replies = [drop, json(200, { id: "j4", status: "IN_QUEUE" })];
    expect((await client().status("j4")).status).toBe("IN_QUEUE");
    expect(seen).toHaveLength(3);
  });

  it("a refused connection is retried for /run too", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    let calls = 0;
    const counting: typeof fetch = (...args) => {
      calls++;
      return fetch(...args);
    };
    const dead = new EndpointClient({ baseUrl: `http://127.0.0.1:${port}/v2`, endpointId: "x", keySource: "none", fetch: counting, retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    await expect(dead.run({ input: 1 })).rejects.toThrow(/ECONNREFUSED/);
    expect(calls).toBe(3);
  });

  it("failures before a connection are retried for /run too", async () => {
    for (const code of ["ECONNREFUSED", "EAI_AGAIN", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]) {
      const run = failingFetch(code);
      await expect(clientWith(run.fetch).run({ input: 1 })).rejects.toBeInstanceOf(ConnectionError);
      expect(run.calls(), code).toBe(4);
    }
    const tryAgain = failingFetch("ENOTFOUND", "getaddrinfo EAI_AGAIN api.runpod.ai: Try again");
    await expect(clientWith(tryAgain.fetch).run({ input: 1 })).rejects.toBeInstanceOf(ConnectionError);
    expect(tryAgain.calls()).toBe(4);
    // A name that does not exist will not start existing on the next try.
    const missing = failingFetch("ENOTFOUND", "getaddrinfo ENOTFOUND api.runpod.example");
    await expect(clientWith(missing.fetch).status("j")).rejects.toBeInstanceOf(ConnectionError);
    expect(missing.calls()).toBe(1);
  });
});

describe("GraphqlClient retries", () => {
  const graphql = () => new GraphqlClient(`${base}/graphql`, "k", "none", { retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2 } });
  const input = { name: "ep", template: { name: "t", imageName: "i" } } as unknown as EndpointInput;

  it("a create (saveEndpoint without id) answered 503 is not retried", async () => {
    replies.push(json(503, {}), json(200, { data: { saveEndpoint: { id: "second" } } }));
    await expect(graphql().saveEndpoint(input)).rejects.toBeInstanceOf(ProvisioningError);
    expect(seen).toHaveLength(1);
  });

  it("an update (saveEndpoint with id), a delete and the list are retried", async () => {
    replies.push(json(503, {}), json(200, { data: { saveEndpoint: { id: "e1" } } }));
    expect((await graphql().saveEndpoint({ ...input, id: "e1" })).id).toBe("e1");
    replies.push(json(502, {}), json(200, { data: { deleteEndpoint: null } }));
    await graphql().deleteEndpoint("e1");
    replies.push(json(504, {}), json(200, { data: { myself: { endpoints: [] } } }));
    expect(await graphql().listEndpoints()).toEqual([]);
    expect(seen).toHaveLength(6);
  });
});

describe("answers", () => {
  it("/health and /purge-queue are parsed, extra fields kept", async () => {
    const health = {
      jobs: { completed: 3, failed: 1, inProgress: 0, inQueue: 2, retried: 0 },
      workers: { idle: 1, initializing: 0, ready: 1, running: 0, throttled: 0, unhealthy: 0 },
    };
    replies.push(json(200, health), json(200, { removed: 2, status: "completed", extra: true }));
    expect(await client().health()).toEqual(health);
    expect(await client().purgeQueue()).toEqual({ removed: 2, status: "completed", extra: true });
  });

  it("/health and /purge-queue in another shape are an ApiError", async () => {
    replies.push(json(200, { jobs: { completed: "3" }, workers: {} }), json(200, { removed: "all" }));
    await expect(client().health()).rejects.toThrow(/unexpected shape/);
    await expect(client().purgeQueue()).rejects.toBeInstanceOf(ApiError);
  });

  it("the user agent names the package's version", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    replies.push(json(200, { id: "j", status: "IN_QUEUE" }));
    await client().status("j");
    expect(lastAgent).toBe(`ferry-sdk/${version}`);
  });
});
