// A fake Hugging Face hub for tests: a real node:http server on 127.0.0.1 serving fixture repos in the hub's URL
// layout (the routes @huggingface/hub requests: /api/{models,datasets}/<id>/revision/<rev>, .../tree/<sha>,
// POST .../paths-info/<sha>, /[datasets/]<id>/resolve/<sha>/<file> with Range, ETag, X-Repo-Commit, X-Linked-Size).
// Used by src/hub.test.ts (models) and src/tasks/data-fetch.e2e.test.ts (datasets); not a mock of our own code.
import * as crypto from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** A repo: its commit sha and files (path → bytes); gated repos need "Bearer hf_good". */
export interface RepoFixture {
  sha: string;
  files: Map<string, Buffer>;
  gated?: boolean;
}

/** Key a repo as "models/<owner>/<name>" or "datasets/<owner>/<name>". */
export const commitSha = (s: string): string => crypto.createHash("sha1").update(s).digest("hex");

/** A minimal hub: enough of huggingface.co's API for @huggingface/hub's modelInfo/listFiles/pathsInfo/download. */
export class FakeHub {
  readonly requests: { method: string; url: string; auth?: string }[] = [];
  private server!: http.Server;
  url = "";
  constructor(private repos: Map<string, RepoFixture>) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((ok) => this.server.listen(0, "127.0.0.1", ok));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }
  fileRequests(): string[] {
    return this.requests.filter((r) => r.url.includes("/resolve/")).map((r) => r.url);
  }

  private static gitOid(b: Buffer) {
    return crypto.createHash("sha1").update(`blob ${b.length}\0`).update(b).digest("hex");
  }
  private static isLfs(p: string) {
    return /\.(safetensors|bin|onnx|pth|parquet)$/.test(p);
  }
  private entry(repo: RepoFixture, p: string, b: Buffer) {
    const lfs = FakeHub.isLfs(p)
      ? { oid: crypto.createHash("sha256").update(b).digest("hex"), size: b.length, pointerSize: 134 }
      : undefined;
    return {
      type: "file",
      path: p,
      oid: FakeHub.gitOid(b),
      size: b.length,
      ...(lfs && { lfs }),
      lastCommit: { id: repo.sha, title: "init", date: "2024-01-01T00:00:00.000Z" },
    };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const auth = req.headers.authorization;
    this.requests.push({ method: req.method!, url: req.url!, auth });
    const u = new URL(req.url!, this.url);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "Content-Type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    const notFound = () => json(404, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
    const api = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/(revision|tree|paths-info)\/([^/]+)(\/.*)?$/.exec(
      u.pathname,
    );
    const resolve = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(u.pathname);
    const key = api ? `${api[1]}/${api[2]}` : resolve ? `${resolve[1] ? "datasets" : "models"}/${resolve[2]}` : "";
    const repo = this.repos.get(key);
    if (!repo) return notFound();
    if (repo.gated && auth !== "Bearer hf_good")
      return json(401, { error: "Access to this repo is restricted" }, { "X-Error-Code": "GatedRepo" });
    const rev = decodeURIComponent((api?.[4] ?? resolve?.[3])!);
    if (rev !== "main" && rev !== repo.sha)
      return json(404, { error: "Revision not found" }, { "X-Error-Code": "RevisionNotFound" });
    if (api?.[3] === "revision")
      return json(200, {
        _id: "abc",
        id: api[2],
        sha: repo.sha,
        private: false,
        downloads: 0,
        likes: 0,
        lastModified: "2024-01-01T00:00:00.000Z",
      });
    if (api?.[3] === "tree") {
      const dirs = new Set([...repo.files.keys()].filter((p) => p.includes("/")).map((p) => p.split("/")[0]!));
      return json(200, [
        ...[...dirs].map((d) => ({ type: "directory", path: d, oid: "0".repeat(40), size: 0 })),
        ...[...repo.files].map(([p, b]) => this.entry(repo, p, b)),
      ]);
    }
    if (api?.[3] === "paths-info") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const { paths } = JSON.parse(body) as { paths: string[] };
        json(
          200,
          paths.filter((p) => repo.files.has(p)).map((p) => this.entry(repo, p, repo.files.get(p)!)),
        );
      });
      return;
    }
    const file = repo.files.get(decodeURIComponent(resolve![4]!));
    if (!file) return json(404, { error: "Entry not found" }, { "X-Error-Code": "EntryNotFound" });
    const p = resolve![4]!;
    const etag = FakeHub.isLfs(p) ? crypto.createHash("sha256").update(file).digest("hex") : FakeHub.gitOid(file);
    const headers: Record<string, string> = {
      "Content-Type": "application/octet-stream",
      ETag: `"${etag}"`,
      "X-Repo-Commit": repo.sha,
      "Accept-Ranges": "bytes",
    };
    if (FakeHub.isLfs(p))
      Object.assign(headers, { "X-Linked-Size": String(file.length), "X-Linked-ETag": `"${etag}"` });
    const range = /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range ?? "");
    if (range) {
      const start = Number(range[1]),
        end = Math.min(range[2] ? Number(range[2]) : file.length - 1, file.length - 1);
      res.writeHead(206, {
        ...headers,
        "Content-Range": `bytes ${start}-${end}/${file.length}`,
        "Content-Length": String(end - start + 1),
      });
      return void res.end(req.method === "HEAD" ? undefined : file.subarray(start, end + 1));
    }
    res.writeHead(200, { ...headers, "Content-Length": String(file.length) });
    res.end(req.method === "HEAD" ? undefined : file);
  }
}
