/**
 * The dashboard's HTTP side: the page at `/` (for a browser, which asks for HTML; API clients
 * asking `/` for JSON keep getting the server's JSON description), its static files under
 * `/dashboard/`, built into `dist/dashboard/` by `images/build-dashboard.mjs`, and its data
 * under `/dashboard/api/` (state, one job). The page and its files hold no data and are served
 * without the key; the data routes sit behind the same key check as the API, after it.
 * Cancelling goes through the API's own `/v2/<endpoint>/cancel/<job>`.
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { HttpError, sendJson } from "../http-util.ts";
import { dashboardState, jobDetail, type SnapshotSources } from "./snapshot.ts";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};
/** Static file names: one level, no path tricks. */
const ASSET_NAME = /^[A-Za-z0-9_-]+\.(html|js|css|svg)$/;

export interface DashboardOptions extends SnapshotSources {
  /** Where the built page lives (`dist/dashboard`). */
  staticDir: string;
}

function wantsHtml(req: IncomingMessage): boolean {
  return (req.headers.accept ?? "").includes("text/html");
}

export class Dashboard {
  constructor(private readonly options: DashboardOptions) {}

  /** A request for the page or its files (answered before the key check). */
  isPageRequest(req: IncomingMessage, parts: string[]): boolean {
    if (req.method !== "GET") return false;
    if (parts.length === 0) return wantsHtml(req);
    return parts.length === 2 && parts[0] === "dashboard" && parts[1] !== "api";
  }

  async page(res: ServerResponse, parts: string[]): Promise<void> {
    const name = parts.length === 0 ? "index.html" : parts[1]!;
    if (!ASSET_NAME.test(name)) throw new HttpError(404, `no dashboard file ${name}`);
    let body: Buffer;
    try {
      body = await readFile(join(this.options.staticDir, name));
    } catch {
      if (name === "index.html") throw new HttpError(404, `the dashboard is not built (${this.options.staticDir} is missing): run \`make build\``);
      throw new HttpError(404, `no dashboard file ${name}`);
    }
    res.writeHead(200, {
      "content-type": CONTENT_TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream",
      "content-length": body.length,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      // Everything the page needs comes from this server: no CDN, no inline script.
      "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    });
    res.end(body);
  }

  isApiRequest(parts: string[]): boolean {
    return parts[0] === "dashboard" && parts[1] === "api";
  }

  /** `/dashboard/api/state`, `/dashboard/api/jobs/<id>` (behind the key check). */
  api(req: IncomingMessage, res: ServerResponse, parts: string[]): void {
    if (req.method !== "GET") throw new HttpError(405, "the dashboard's data routes answer GET only");
    const [, , what, id] = parts;
    if (what === "state" && parts.length === 3) return sendJson(res, 200, dashboardState(this.options));
    if (what === "jobs" && id && parts.length === 4) {
      const job = this.options.store.find(id);
      if (!job) throw new HttpError(404, `no job ${id} (unknown, or past its retention)`);
      return sendJson(res, 200, jobDetail(job));
    }
    throw new HttpError(404, `no dashboard route ${parts.join("/")}`);
  }
}
