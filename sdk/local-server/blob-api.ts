/**
 * The local server's blob routes (see blob-files.ts for storage and tokens).
 *
 * Caller side, under the endpoint API and its key:
 * - `POST /v2/<id>/blobs` with the bytes as body: stores an input, answers `{key, url}`, the URL
 *   a worker GETs (it carries a read token);
 * - `POST /v2/<id>/blobs/places` `{count}`: answers `{places: [{key, put_url}]}`, URLs a worker
 *   PUTs one output each to (write tokens);
 * - `GET /v2/<id>/blobs/<key>`: reads a blob back; `POST /v2/<id>/blobs/delete` `{keys}`.
 *
 * Worker side, with no API key (the token is the authority): `GET` and `PUT /blobs/<key>?token=`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { MAX_BLOB_OUTPUTS } from "../../protocol/blob-ref.ts";
import type { BlobFiles } from "./blob-files.ts";
import { HttpError, parseJsonBody, readBody, sendEmpty, sendJson, validate } from "./http-util.ts";

const PlacesSchema = z.object({ count: z.number().int().min(1).max(MAX_BLOB_OUTPUTS) });
const DeleteSchema = z.object({ keys: z.array(z.string().max(200)).max(10_000) });

export class BlobApi {
  constructor(private readonly files: BlobFiles) {}

  /** `/v2/<endpoint>/blobs/...` for the caller. */
  async handleCaller(req: IncomingMessage, res: ServerResponse, rest: string[]): Promise<void> {
    const [sub, ...more] = rest;
    if (sub === undefined && req.method === "POST") {
      // Not a type a web page may send without a preflight, which this server never answers.
      const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
      if (type !== "application/octet-stream") throw new HttpError(415, `blob bodies must be application/octet-stream, got ${type ? JSON.stringify(type) : "no content type"}`);
      const key = this.files.newKey();
      await this.files.write(key, req);
      return sendJson(res, 200, { key, url: this.files.url(key, "read") });
    }
    if (sub === "places" && more.length === 0 && req.method === "POST") {
      const { count } = validate(PlacesSchema, parseJsonBody(await readBody(req, 64 * 1024, "/blobs/places")), "/blobs/places body");
      const places = this.files.outputPlaces(count).map(({ key, putUrl }) => ({ key, put_url: putUrl }));
      return sendJson(res, 200, { places });
    }
    if (sub === "delete" && more.length === 0 && req.method === "POST") {
      const { keys } = validate(DeleteSchema, parseJsonBody(await readBody(req, 4 * 1024 * 1024, "/blobs/delete")), "/blobs/delete body");
      this.files.delete(keys);
      return sendJson(res, 200, { deleted: keys.length });
    }
    if (sub !== undefined && more.length === 0 && req.method === "GET") return this.files.send(sub, res);
    throw new HttpError(404, `no route ${req.method} /blobs${sub ? `/${sub}` : ""}`);
  }

  /** `/blobs/<key>?token=` for workers. */
  async handleWorker(req: IncomingMessage, res: ServerResponse, url: URL, rest: string[]): Promise<void> {
    if (rest.length !== 1) throw new HttpError(404, "no such blob");
    const key = rest[0]!;
    const token = url.searchParams.get("token");
    if (req.method === "GET") {
      this.files.check(key, token, "read");
      return this.files.send(key, res);
    }
    if (req.method === "PUT") {
      this.files.check(key, token, "write");
      await this.files.write(key, req);
      return sendEmpty(res, 200);
    }
    throw new HttpError(405, `${req.method} is not allowed on a blob`);
  }
}
