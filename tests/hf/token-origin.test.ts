// HF_TOKEN is for the hub: a request to any other origin (a CDN, presigned storage) goes without it.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHubFetch } from "../../handler/hf/hub-fetch.ts";

const seen: { server: string; authorization: string | undefined }[] = [];
const servers: Server[] = [];
const urls: string[] = [];

beforeAll(async () => {
  for (const name of ["hub", "cdn"]) {
    const server = createServer((req, res) => {
      seen.push({ server: name, authorization: req.headers.authorization });
      res.end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
});
afterAll(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

it("sends the token to the hub's origin only", async () => {
  const [hubUrl, cdnUrl] = urls as [string, string];
  const hub = createHubFetch({ token: "hf_secret_marker", hubUrl });
  await (await hub.fetch(`${hubUrl}/acme/model/resolve/main/config.json`)).text();
  await (await hub.fetch(`${cdnUrl}/blobs/abc?signature=1`)).text();
  expect(seen).toEqual([
    { server: "hub", authorization: "Bearer hf_secret_marker" },
    { server: "cdn", authorization: undefined },
  ]);
});
