/**
 * The endpoint API client against a small scripted HTTP server: retries on 429 and gateway
 * errors (honouring Retry-After), none on other errors, AuthenticationError naming the key
 * source, retries on connection errors, and aborts that end the request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ApiError, AuthenticationError, ConnectionError, RateLimitError } from "../../sdk/errors.ts";
import { EndpointClient } from "../../sdk/transport.ts";

type Reply = (req: IncomingMessage, res: ServerResponse) => void;
let replies: Reply[] = [];
const seen: { method: string; url: string; auth: string | undefined }[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization });
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

  it("an abort ends a held request at once", async () => {
    replies.push(() => undefined); // never answers
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error("stop")), 30);
    await expect(client().stream("j", controller.signal)).rejects.toThrow("stop");
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
