/**
 * The HTTP helper both local APIs stand on, against a real server on 127.0.0.1: bodies over the
 * limit are 413 (declared or streamed) and the connection is closed, malformed JSON is 400
 * naming the problem, a schema failure is 400 naming the field, and the server goes on serving.
 */
import { createServer, request, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { HttpError, jsonRoutes, listen, readJsonBody, sendJson } from "../../protocol/http-server.ts";

const LIMIT = 1024;
const Body = z.object({ name: z.string(), count: z.number().int().positive() });

let server: Server | undefined;
const unexpected: unknown[] = [];

afterEach(async () => {
  unexpected.length = 0;
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
});

async function serve(): Promise<string> {
  server = createServer(
    jsonRoutes(
      async (req, res) => {
        if (req.url === "/boom") throw new Error("kaput");
        if (req.url === "/teapot") throw new HttpError(418, "short and stout");
        const body = await readJsonBody(req, LIMIT, Body, "/echo");
        sendJson(res, 200, body);
      },
      (err) => unexpected.push(err),
    ),
  );
  const { address, port } = await listen(server, 0, "127.0.0.1");
  expect(address).toBe("127.0.0.1");
  return `http://127.0.0.1:${port}`;
}

async function post(url: string, body: string): Promise<{ status: number; error?: string; json: unknown }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  const json = (await res.json()) as { error?: string };
  return { status: res.status, error: json.error, json };
}

/** Sends `chunks` with chunked transfer encoding (no Content-Length), answering status and headers. */
function postChunked(url: string, chunks: string[]): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on("error", reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe("protocol/http-server", () => {
  it("answers a valid JSON body that fits", async () => {
    const url = await serve();
    expect(await post(`${url}/echo`, JSON.stringify({ name: "a", count: 2 }))).toMatchObject({ status: 200, json: { name: "a", count: 2 } });
  });

  it("refuses a declared body over the limit with 413 naming the limit and the route, and closes the connection", async () => {
    const url = await serve();
    const res = await fetch(`${url}/echo`, { method: "POST", body: "x".repeat(LIMIT + 1) });
    expect(res.status).toBe(413);
    expect(res.headers.get("connection")).toBe("close");
    expect(((await res.json()) as { error: string }).error).toBe("request body is 2 KB, over the 1 KB limit: /echo accepts at most 1 KB");
  });

  it("refuses a streamed body once it passes the limit with 413", async () => {
    const url = await serve();
    const res = await postChunked(`${url}/echo`, ["x".repeat(600), "x".repeat(600), "x".repeat(600)]);
    expect(res.status).toBe(413);
    expect(res.connection).toBe("close");
    expect(JSON.parse(res.body).error).toMatch(/^request body exceeds 2 KB, over the 1 KB limit: \/echo accepts at most 1 KB$/);
  });

  it("accepts a streamed body exactly at the limit", async () => {
    const url = await serve();
    const body = JSON.stringify({ name: "n".repeat(LIMIT - 21), count: 1 });
    expect(body.length).toBe(LIMIT);
    const res = await postChunked(`${url}/echo`, [body.slice(0, 500), body.slice(500)]);
    expect(res.status).toBe(200);
  });

  it("answers malformed JSON with 400 naming the parse problem", async () => {
    const url = await serve();
    const res = await post(`${url}/echo`, '{"name": "a",');
    expect(res.status).toBe(400);
    expect(res.error).toMatch(/^request body is not valid JSON: .+/);
  });

  it("answers a schema failure with 400 naming the route and the field", async () => {
    const url = await serve();
    const res = await post(`${url}/echo`, JSON.stringify({ name: "a", count: -1 }));
    expect(res.status).toBe(400);
    expect(res.error).toMatch(/^invalid \/echo body: count: /);
    const empty = await post(`${url}/echo`, "");
    expect(empty.status).toBe(400);
    expect(empty.error).toMatch(/^invalid \/echo body: \(body\): /);
  });

  it("answers an HttpError with its status and anything else with 500, which it reports, and keeps serving", async () => {
    const url = await serve();
    expect(await post(`${url}/teapot`, "{}")).toMatchObject({ status: 418, error: "short and stout" });
    expect(unexpected).toEqual([]);
    expect(await post(`${url}/boom`, "{}")).toMatchObject({ status: 500, error: "internal error: kaput" });
    expect(unexpected).toHaveLength(1);
    expect(await post(`${url}/echo`, JSON.stringify({ name: "b", count: 1 }))).toMatchObject({ status: 200 });
  });

  it("listen rejects when the port is taken", async () => {
    const url = await serve();
    const other = createServer();
    await expect(listen(other, Number(new URL(url).port), "127.0.0.1")).rejects.toThrow(/EADDRINUSE/);
  });
});
