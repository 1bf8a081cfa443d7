/**
 * A local stand-in for the Hugging Face hub: the routes @huggingface/hub (and Python's
 * huggingface_hub) call for model repos, served from repos the test makes in memory.
 *
 *   GET  /api/models/:org/:name/revision/:rev        model info; `sha` is the commit
 *   GET  /api/models/:org/:name/tree/:rev[/:path]    listing (`?recursive=true`, paged with Link)
 *   POST /api/models/:org/:name/paths-info/:rev      per-path info (`lastCommit` when expand)
 *   GET|HEAD /:org/:name/resolve/:rev/:path          file bytes with ETag, X-Repo-Commit,
 *                                                    X-Linked-Etag / X-Linked-Size (LFS),
 *                                                    Range -> 206 + Content-Range
 *   GET  /cdn/:sha256                                LFS bytes behind a 302 (redirectLfs)
 *   GET  /plain/:org/:name/:path                     the same bytes, plain HTTP (baseline)
 *
 * Errors answer as the hub does: `X-Error-Code` RepoNotFound / GatedRepo / RevisionNotFound /
 * EntryNotFound with a JSON `{ error }` body. Faults for tests: close the connection after N
 * bytes of a file. Every request is recorded, so a test can count them.
 * Binds 127.0.0.1 on a free port.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeFile {
  path: string;
  content: Buffer;
  /** Stored with Git LFS: etag is the sha256, listed with `lfs`. */
  lfs: boolean;
  /** Git blob id of the content (non-LFS) or of the LFS pointer file. */
  oid: string;
  sha256: string;
  pointerSize: number;
}

export interface FakeRepoOptions {
  /** Files need a token the hub accepts (metadata stays public, as on the hub). */
  gated?: boolean;
  /** Everything needs an accepted token; without one the repo does not exist (401 RepoNotFound). */
  private?: boolean;
  /** Files at least this large (and *.safetensors / *.bin) are LFS files. Default 1 MiB. */
  lfsThreshold?: number;
  /** Branch the new commit goes on. Default "main". */
  branch?: string;
  tags?: string[];
}

export interface FakeCommit {
  commit: string;
  files: FakeFile[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

export interface MidFileFault {
  /** Repo file path whose body is cut. */
  path: string;
  /** Bytes of the body sent before the connection is destroyed. */
  afterBytes: number;
  /** How many responses are cut; then the file is served normally. Default Infinity. */
  times?: number;
}

export interface FakeHfHub {
  /** Base URL (no trailing slash): pass as `hubUrl` / HF_ENDPOINT. */
  url: string;
  requests: RecordedRequest[];
  /** Adds a commit to a repo (made when new); moves the branch (default main) to it. */
  addRepo(id: string, files: Record<string, Buffer | string>, options?: FakeRepoOptions): FakeCommit;
  /** Plain HTTP URL of a file's bytes at the branch head, for a baseline download. */
  plainUrl(id: string, path: string, branch?: string): string;
  setMidFileFault(fault: MidFileFault | null): void;
  resetRequests(): void;
  close(): Promise<void>;
}

interface Repo {
  id: string;
  gated: boolean;
  private: boolean;
  refs: Map<string, string>;
  commits: Map<string, FakeFile[]>;
}

function gitBlobOid(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function makeFile(path: string, content: Buffer, lfsThreshold: number): FakeFile {
  const sha256 = createHash("sha256").update(content).digest("hex");
  const lfs = content.length >= lfsThreshold || /\.(safetensors|bin|pt|onnx|gguf)$/.test(path);
  if (!lfs) return { path, content, lfs, oid: gitBlobOid(content), sha256, pointerSize: 0 };
  const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${content.length}\n`);
  return { path, content, lfs, oid: gitBlobOid(pointer), sha256, pointerSize: pointer.length };
}

function etagOf(f: FakeFile): string {
  return f.lfs ? f.sha256 : f.oid;
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m) return null;
  const start = m[1] ? Number(m[1]) : size - Number(m[2]);
  const end = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
  return { start: Math.max(0, start), end };
}

export async function startFakeHfHub(options: { acceptedTokens?: string[]; treePageSize?: number; redirectLfs?: boolean } = {}): Promise<FakeHfHub> {
  const repos = new Map<string, Repo>();
  const accepted = new Set(options.acceptedTokens ?? []);
  const requests: RecordedRequest[] = [];
  let fault: (MidFileFault & { left: number }) | null = null;
  let commitCounter = 0;

  const sendError = (res: ServerResponse, status: number, code: string | null, message: string): void => {
    res.statusCode = status;
    if (code) res.setHeader("X-Error-Code", code);
    res.setHeader("X-Error-Message", message);
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ error: message }));
  };
  const sendJson = (res: ServerResponse, value: unknown, headers: Record<string, string> = {}): void => {
    res.statusCode = 200;
    res.setHeader("Content-Type", "application/json");
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.end(JSON.stringify(value));
  };

  const tokenOf = (req: IncomingMessage): string | undefined => {
    const auth = req.headers.authorization;
    return auth?.startsWith("Bearer ") ? auth.slice(7) : undefined;
  };

  /** The repo, or an error already sent. `files` gates content as the hub gates downloads. */
  const access = (req: IncomingMessage, res: ServerResponse, id: string, files: boolean): Repo | null => {
    const repo = repos.get(id);
    const token = tokenOf(req);
    const allowed = token !== undefined && accepted.has(token);
    if (!repo || (repo.private && !allowed)) {
      sendError(res, repo ? 401 : 404, "RepoNotFound", "Repository not found");
      return null;
    }
    if (repo.gated && files && !allowed) {
      const message = `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
      sendError(res, token === undefined ? 401 : 403, "GatedRepo", message);
      return null;
    }
    return repo;
  };

  const resolveRev = (res: ServerResponse, repo: Repo, rev: string): { commit: string; files: FakeFile[] } | null => {
    const commit = repo.commits.has(rev) ? rev : repo.refs.get(rev === "HEAD" ? "main" : rev);
    const files = commit ? repo.commits.get(commit) : undefined;
    if (!commit || !files) {
      sendError(res, 404, "RevisionNotFound", `Invalid rev id: ${rev}`);
      return null;
    }
    return { commit, files };
  };

  const treeEntries = (files: FakeFile[], commit: string, prefix: string, recursive: boolean, expand: boolean): unknown[] => {
    const dirs = new Set<string>();
    const out: unknown[] = [];
    const base = prefix ? `${prefix.replace(/\/$/, "")}/` : "";
    for (const f of files) {
      if (!f.path.startsWith(base)) continue;
      const rest = f.path.slice(base.length).split("/");
      for (let i = 1; i < rest.length; i++) {
        if (!recursive && i > 1) break;
        dirs.add(base + rest.slice(0, i).join("/"));
      }
      if (!recursive && rest.length > 1) continue;
      out.push({
        type: "file",
        oid: f.oid,
        size: f.content.length,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: f.pointerSize } } : {}),
        ...(expand ? { lastCommit: { id: commit, title: "fake commit", date: new Date(0).toISOString() }, securityFileStatus: { status: "safe" } } : {}),
      });
    }
    const dirEntries = [...dirs].sort().map((d) => ({ type: "directory", oid: createHash("sha1").update(d).digest("hex"), size: 0, path: d }));
    return [...dirEntries, ...out];
  };

  const sendBytes = (req: IncomingMessage, res: ServerResponse, f: FakeFile, headers: Record<string, string>): void => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader("Accept-Ranges", "bytes");
    res.setHeader("Content-Type", "application/octet-stream");
    const size = f.content.length;
    const range = parseRange(req.headers.range, size);
    let start = 0;
    let end = size - 1;
    if (range) {
      if (range.start >= size && size > 0) {
        res.statusCode = 416;
        res.setHeader("Content-Range", `bytes */${size}`);
        res.end();
        return;
      }
      start = range.start;
      end = range.end;
      res.statusCode = 206;
      res.setHeader("Content-Range", `bytes ${start}-${end}/${size}`);
    } else {
      res.statusCode = 200;
    }
    const body = f.content.subarray(start, end + 1);
    res.setHeader("Content-Length", String(body.length));
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const probe = req.headers.range === "bytes=0-0";
    if (fault && !probe && fault.path === f.path && fault.left > 0) {
      fault.left--;
      const cut = Math.max(0, Math.min(fault.afterBytes, body.length - 1));
      res.flushHeaders();
      res.write(body.subarray(0, cut), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const path = url.pathname;
    requests.push({ method, path: `${path}${url.search}`, authorization: req.headers.authorization, range: req.headers.range });
    let m: RegExpExecArray | null;

    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(path)) && method === "GET") {
      const repo = access(req, res, m[1]!, false);
      const rev = repo && resolveRev(res, repo, decodeURIComponent(m[2]!));
      if (!repo || !rev) return;
      sendJson(res, {
        _id: createHash("sha1").update(repo.id).digest("hex").slice(0, 24),
        id: repo.id,
        modelId: repo.id,
        sha: rev.commit,
        private: repo.private,
        gated: repo.gated ? "manual" : false,
        disabled: false,
        downloads: 0,
        likes: 0,
        lastModified: new Date(0).toISOString(),
        siblings: rev.files.map((f) => ({ rfilename: f.path })),
      });
      return;
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(path)) && method === "GET") {
      const repo = access(req, res, m[1]!, false);
      const rev = repo && resolveRev(res, repo, decodeURIComponent(m[2]!));
      if (!repo || !rev) return;
      const all = treeEntries(rev.files, rev.commit, m[3] ? decodeURIComponent(m[3]) : "", url.searchParams.get("recursive") === "true", url.searchParams.get("expand") === "true");
      const pageSize = options.treePageSize ?? Infinity;
      const cursor = Number(url.searchParams.get("cursor") ?? "0");
      const page = all.slice(cursor, cursor + pageSize);
      const headers: Record<string, string> = {};
      if (cursor + pageSize < all.length) {
        const next = new URL(url.href);
        next.searchParams.set("cursor", String(cursor + pageSize));
        headers.Link = `<${baseUrl}${next.pathname}${next.search}>; rel="next"`;
      }
      sendJson(res, page, headers);
      return;
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/.exec(path)) && method === "POST") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const repo = access(req, res, m[1]!, false);
      const rev = repo && resolveRev(res, repo, decodeURIComponent(m[2]!));
      if (!repo || !rev) return;
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { paths?: string[]; expand?: boolean };
      const wanted = new Set(body.paths ?? []);
      const entries = treeEntries(rev.files, rev.commit, "", true, Boolean(body.expand)).filter((e) => wanted.has((e as { path: string }).path));
      sendJson(res, entries);
      return;
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path)) && (method === "GET" || method === "HEAD")) {
      const repo = access(req, res, m[1]!, true);
      const rev = repo && resolveRev(res, repo, decodeURIComponent(m[2]!));
      if (!repo || !rev) return;
      const filePath = decodeURIComponent(m[3]!);
      const f = rev.files.find((x) => x.path === filePath);
      if (!f) {
        sendError(res, 404, "EntryNotFound", `${filePath} does not exist on "${m[2]}"`);
        return;
      }
      const headers: Record<string, string> = { "X-Repo-Commit": rev.commit, ETag: `"${etagOf(f)}"` };
      if (f.lfs) {
        headers["X-Linked-Etag"] = `"${f.sha256}"`;
        headers["X-Linked-Size"] = String(f.content.length);
        if (options.redirectLfs) {
          headers.ETag = `"${f.oid}"`;
          res.statusCode = 302;
          for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
          res.setHeader("Location", `${baseUrl}/cdn/${f.sha256}?path=${encodeURIComponent(f.path)}`);
          res.end();
          return;
        }
      }
      sendBytes(req, res, f, headers);
      return;
    }
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(path)) && (method === "GET" || method === "HEAD")) {
      const f = [...repos.values()].flatMap((r) => [...r.commits.values()].flat()).find((x) => x.sha256 === m![1]);
      if (!f) return sendError(res, 404, null, "no such object");
      sendBytes(req, res, f, { ETag: `"${f.sha256}"` });
      return;
    }
    if ((m = /^\/plain\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(path)) && method === "GET") {
      const repo = repos.get(m[1]!);
      const commit = repo?.refs.get(decodeURIComponent(m[2]!));
      const f = commit ? repo?.commits.get(commit)?.find((x) => x.path === decodeURIComponent(m![3]!)) : undefined;
      if (!f) return sendError(res, 404, null, "not found");
      sendBytes(req, res, f, {});
      return;
    }
    sendError(res, 404, null, `no route ${method} ${path}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, null, String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    requests,
    addRepo(id, files, opts = {}) {
      let repo = repos.get(id);
      if (!repo) {
        repo = { id, gated: false, private: false, refs: new Map(), commits: new Map() };
        repos.set(id, repo);
      }
      repo.gated = opts.gated ?? repo.gated;
      repo.private = opts.private ?? repo.private;
      const made = Object.entries(files).map(([p, c]) => makeFile(p, Buffer.isBuffer(c) ? c : Buffer.from(c), opts.lfsThreshold ?? 1024 * 1024));
      const commit = createHash("sha1")
        .update(`${id}\n${++commitCounter}\n${made.map((f) => `${f.path} ${etagOf(f)}`).join("\n")}`)
        .digest("hex");
      repo.commits.set(commit, made);
      repo.refs.set(opts.branch ?? "main", commit);
      for (const tag of opts.tags ?? []) repo.refs.set(tag, commit);
      return { commit, files: made };
    },
    plainUrl(id, path, branch = "main") {
      return `${baseUrl}/plain/${id}/${encodeURIComponent(branch)}/${path}`;
    },
    setMidFileFault(f) {
      fault = f ? { ...f, left: f.times ?? Infinity } : null;
    },
    resetRequests() {
      requests.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
