/**
 * A PEP 503 "simple" package index on 127.0.0.1, serving wheels built by the test:
 * `/simple/` lists projects, `/simple/<project>/` links each file with its sha256,
 * `/files/<filename>` serves the bytes. pip and uv both install from it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { BuiltWheel } from "./wheels.ts";

export interface Pep503Index {
  /** e.g. "http://127.0.0.1:40123/simple/" */
  url: string;
  /** Paths requested so far (to see what an installer fetched). */
  requests: string[];
  add(wheel: BuiltWheel): void;
  close(): Promise<void>;
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");

export async function startPep503Index(wheels: BuiltWheel[] = []): Promise<Pep503Index> {
  const projects = new Map<string, BuiltWheel[]>();
  const files = new Map<string, BuiltWheel>();
  const add = (wheel: BuiltWheel) => {
    const list = projects.get(wheel.project) ?? [];
    list.push(wheel);
    projects.set(wheel.project, list);
    files.set(wheel.filename, wheel);
  };
  wheels.forEach(add);
  const requests: string[] = [];

  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    requests.push(path);
    const html = (body: string) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!DOCTYPE html><html><body>\n${body}\n</body></html>`);
    };
    if (path === "/simple/" || path === "/simple") {
      return html([...projects.keys()].map((p) => `<a href="/simple/${p}/">${p}</a>`).join("<br>\n"));
    }
    const project = /^\/simple\/([^/]+)\/?$/.exec(path)?.[1];
    if (project !== undefined) {
      const normalized = project.replace(/[-_.]+/g, "-").toLowerCase();
      const list = projects.get(normalized);
      if (!list) {
        res.writeHead(404, { "content-type": "text/plain" });
        return res.end("not found");
      }
      return html(list.map((w) => `<a href="/files/${escapeHtml(w.filename)}#sha256=${w.sha256}">${escapeHtml(w.filename)}</a>`).join("<br>\n"));
    }
    const file = /^\/files\/([^/]+)$/.exec(path)?.[1];
    const wheel = file !== undefined ? files.get(file) : undefined;
    if (wheel) {
      // Files are immutable, as on PyPI; the cache header lets pip keep them in its cache.
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": wheel.data.length, "cache-control": "max-age=31536000, immutable" });
      return res.end(wheel.data);
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/simple/`,
    requests,
    add,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
