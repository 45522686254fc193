// Resolve a model (or dataset) to a local folder: a local path as is, else a Hugging Face hub id from the HF cache
// (offline first, same layout as Python's huggingface_hub: <cache>/models--owner--name/{refs/<rev>, blobs/<etag>,
// snapshots/<sha>/<file>}), else downloaded with @huggingface/hub into that cache. Cache dir, endpoint, token and
// offline mode follow Python: HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub, HF_ENDPOINT, HF_TOKEN,
// HF_HUB_OFFLINE. Only the files a safetensors model needs are fetched (no *.bin, *.pth, onnx/, original/).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { defaultFetchOptions, TransferError, robustFetch, type RobustFetchOptions } from "./hub-fetch.ts";
import {
  datasetInfo,
  downloadFileToCacheDir,
  getHFHubCachePath,
  getRepoFolderName,
  listFiles,
  modelInfo,
} from "@huggingface/hub";

export interface HubOptions {
  revision?: string;
  cacheDir?: string;
  hubUrl?: string;
  accessToken?: string;
  onProgress?: (file: string, loaded: number, total: number) => void;
  /** Timeouts, retries and partial-file folder of downloads (defaults: src/hub-fetch.ts). */
  fetchOptions?: Partial<RobustFetchOptions>;
}

/** A progress line on stderr per file ("\r"-updated, at most 4 times a second). */
export function stderrProgress(): (file: string, loaded: number, total: number) => void {
  let last = 0;
  return (file, loaded, total) => {
    const now = Date.now();
    if (loaded < total && now - last < 250) return;
    last = now;
    const pct = Number.isFinite(total) && total > 0 ? ` ${((100 * loaded) / total).toFixed(0)}%` : "";
    process.stderr.write(`\r  ${file}: ${(loaded / 1e6).toFixed(1)} MB${pct}${loaded >= total ? "\n" : ""}`);
  };
}

export interface RepoRef {
  type: "model" | "dataset";
  name: string;
}

export class HubError extends Error {
  override name = "HubError";
}

const DEFAULT_HUB = "https://huggingface.co";
const COMMIT = /^[0-9a-f]{40}$/;
const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/;
const MODEL_FILES = new Set([
  "config.json",
  "model.safetensors.index.json",
  "tokenizer.json",
  "tokenizer_config.json",
  "generation_config.json",
]);

/** The top-level files of a model repo that loading needs: config, safetensors weights (+ index), tokenizer. */
export function isModelFile(p: string): boolean {
  return !p.includes("/") && (MODEL_FILES.has(p) || p.endsWith(".safetensors"));
}

function settings(opts: HubOptions) {
  const token = opts.accessToken ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  return {
    revision: opts.revision ?? "main",
    cacheDir: opts.cacheDir ?? getHFHubCachePath(),
    hubUrl: (opts.hubUrl ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB).replace(/\/+$/, ""),
    accessToken: token || undefined,
    offline: ["1", "true", "yes", "on"].includes((process.env.HF_HUB_OFFLINE ?? "").toLowerCase()),
  };
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(os.homedir(), p.slice(1)) : p;
}

/** A path, not a hub id: starts with . / ~, has more than owner/name, or its first segment exists here. */
export function looksLocal(s: string): boolean {
  if (/^[.~/\\]/.test(s) || path.isAbsolute(s) || s.includes("\\") || fs.existsSync(s)) return true;
  const parts = s.split("/");
  return parts.length > 2 || (parts.length === 2 && fs.existsSync(parts[0]!));
}

/** The snapshot folder of `revision` in the cache, or null when the cache has none. */
export function cachedSnapshot(repo: RepoRef, revision: string, cacheDir: string): string | null {
  const storage = path.join(cacheDir, getRepoFolderName(repo));
  let sha = revision;
  if (!COMMIT.test(revision)) {
    const ref = path.join(storage, "refs", revision);
    if (!fs.existsSync(ref)) return null;
    sha = fs.readFileSync(ref, "utf8").trim();
  }
  const snap = path.join(storage, "snapshots", sha);
  return fs.existsSync(snap) ? snap : null;
}

/** What a model folder lacks to be loadable: config.json and complete safetensors weights. */
export function missingModelFiles(dir: string): string[] {
  const missing: string[] = [];
  if (!fs.existsSync(path.join(dir, "config.json"))) missing.push("config.json");
  const index = path.join(dir, "model.safetensors.index.json");
  if (fs.existsSync(index)) {
    try {
      const wm =
        (JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map?: Record<string, string> }).weight_map ?? {};
      for (const shard of new Set(Object.values(wm))) if (!fs.existsSync(path.join(dir, shard))) missing.push(shard);
    } catch {
      missing.push("model.safetensors.index.json (unreadable)");
    }
  } else if (!fs.readdirSync(dir).some((f) => f.endsWith(".safetensors"))) {
    missing.push("*.safetensors");
  }
  return missing;
}

function describe(repo: RepoRef): string {
  return `${repo.type} "${repo.name}"`;
}

/** Turn a network or API failure into a message that says what to do. */
function explain(e: unknown, repo: RepoRef, hubUrl: string): HubError {
  const err = e as Error & { statusCode?: number; cause?: { code?: string; message?: string } };
  const local =
    repo.type === "model"
      ? "pass a local folder (config.json + *.safetensors + tokenizer.json) instead"
      : "pass a local file or folder instead";
  if (err.statusCode === 401 || err.statusCode === 403) {
    return new HubError(
      `could not download ${describe(repo)} from ${hubUrl}: access denied (${err.statusCode}); the repo is gated or private: accept its license on the hub and set HF_TOKEN, or ${local}`,
    );
  }
  if (err.statusCode === 404) {
    return new HubError(
      `could not download ${describe(repo)} from ${hubUrl}: not found (404); check the id and revision, or ${local}`,
    );
  }
  if (err.statusCode) return new HubError(`could not download ${describe(repo)} from ${hubUrl}: ${err.message}`);
  if (/access token/i.test(err.message))
    return new HubError(`could not download ${describe(repo)}: ${err.message} (check HF_TOKEN)`);
  const cause = err.cause?.code ?? err.cause?.message ?? err.message;
  return new HubError(
    `could not download ${describe(repo)} from ${hubUrl} (${cause}); no network? check the connection or HF_ENDPOINT, or ${local}`,
  );
}

/** fetch that reports the bytes of full-file downloads (the ones without a Range header) to onProgress. */
function progressFetch(
  current: () => string,
  completed: Set<string>,
  onProgress: HubOptions["onProgress"],
  base: typeof fetch,
): typeof fetch {
  if (!onProgress) return base;
  return async (input, init) => {
    const resp = await base(input, init);
    const headers = new Headers(init?.headers);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!url.includes("/resolve/") || headers.has("Range") || !resp.ok || !resp.body) return resp;
    const total = Number(resp.headers.get("Content-Length") ?? NaN);
    const file = current();
    let loaded = 0;
    const counted = resp.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          loaded += chunk.byteLength;
          onProgress(file, loaded, total);
          if (loaded === total) completed.add(file);
          ctl.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
  };
}

/** @huggingface/hub logs "Downloading X" with console.debug, which goes to stdout; keep stdout clean (JSONL):
 *  send it to stderr, or drop it when the caller shows progress itself. */
async function quietLibraryLog<T>(drop: boolean, fn: () => Promise<T>): Promise<T> {
  const saved = console.debug;
  console.debug = drop ? () => {} : (...args: unknown[]) => console.error(...args);
  try {
    return await fn();
  } finally {
    console.debug = saved;
  }
}

/** The files to fetch: the named paths (size unknown), or the repo's files the predicate keeps (with their sizes). */
async function wantedFiles(
  files: string[] | ((path: string) => boolean),
  list: () => AsyncIterable<{ type: string; path: string; size: number }>,
): Promise<{ path: string; size: number | null }[]> {
  if (Array.isArray(files)) return files.map((p) => ({ path: p, size: null }));
  const wanted: { path: string; size: number | null }[] = [];
  for await (const entry of list()) if (entry.type === "file" && files(entry.path)) wanted.push(entry);
  return wanted;
}

/**
 * One file into the cache. A transfer cut short keeps its bytes (src/hub-fetch.ts): each retry resumes where the
 * last one stopped. A file the hub does not have is a HubError saying `missing`.
 */
async function downloadResuming(
  download: () => Promise<unknown>,
  fo: RobustFetchOptions,
  missing: string,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await download();
      return;
    } catch (e) {
      if (/cannot get path info/.test((e as Error).message)) throw new HubError(missing);
      if (!(e instanceof TransferError) || attempt >= fo.retries) throw e;
      fo.log?.(`${(e as Error).message}; resuming (${attempt + 1}/${fo.retries})`);
    }
  }
}

/**
 * Download the chosen files of a repo revision into the HF cache and return the snapshot folder. Files already in
 * the cache are not fetched again. `files` is a list of paths or a predicate over the repo's file paths.
 * Without network (or with HF_HUB_OFFLINE=1) a cached snapshot of the revision is returned if there is one.
 */
export async function downloadRepoFiles(
  repo: RepoRef,
  files: string[] | ((path: string) => boolean),
  opts: HubOptions = {},
): Promise<string> {
  const s = settings(opts);
  const cached = cachedSnapshot(repo, s.revision, s.cacheDir);
  if (cached && Array.isArray(files) && files.every((f) => fs.existsSync(path.join(cached, f)))) return cached;
  if (s.offline) {
    if (cached) return cached;
    throw new HubError(
      `${describe(repo)} (revision ${s.revision}) is not in the cache ${s.cacheDir} and HF_HUB_OFFLINE is set; unset it to download, or pass a local path instead`,
    );
  }
  let currentFile = "";
  const completed = new Set<string>();
  const fo: RobustFetchOptions = {
    ...defaultFetchOptions(path.join(s.cacheDir, ".lora-lab-partial")),
    log: (m) => console.error(`hub: ${m}`),
    ...opts.fetchOptions,
  };
  const base = robustFetch(fo);
  const params = {
    repo,
    hubUrl: s.hubUrl,
    accessToken: s.accessToken,
    fetch: progressFetch(() => currentFile, completed, opts.onProgress, base),
  };
  try {
    return await quietLibraryLog(!!opts.onProgress, async () => {
      const info =
        repo.type === "model"
          ? await modelInfo({ ...params, name: repo.name, revision: s.revision, additionalFields: ["sha"] })
          : await datasetInfo({ ...params, name: repo.name, revision: s.revision, additionalFields: ["sha"] });
      const sha = (info as { sha?: string }).sha;
      if (!sha || !COMMIT.test(sha))
        throw new HubError(`${s.hubUrl} returned no commit sha for ${describe(repo)} at ${s.revision}`);
      const storage = path.join(s.cacheDir, getRepoFolderName(repo));
      if (s.revision !== sha) {
        // A revision like "refs/convert/parquet" has slashes: create the ref file's own folder.
        const refFile = path.join(storage, "refs", s.revision);
        fs.mkdirSync(path.dirname(refFile), { recursive: true });
        fs.writeFileSync(refFile, sha);
      }
      const snapshot = path.join(storage, "snapshots", sha);
      const wanted = await wantedFiles(files, () => listFiles({ ...params, revision: sha, recursive: true }));
      for (const w of wanted) {
        currentFile = w.path;
        const target = path.join(snapshot, w.path);
        if (!fs.existsSync(target)) {
          const what = `${describe(repo)} has no file "${w.path}" at revision ${s.revision} (${s.hubUrl})`;
          await downloadResuming(
            () => downloadFileToCacheDir({ ...params, path: w.path, revision: sha, cacheDir: s.cacheDir }),
            fo,
            what,
          );
        }
        const size = fs.statSync(target).size;
        if (w.size !== null && size !== w.size) {
          throw new HubError(`${target}: downloaded ${size} bytes but the hub lists ${w.size}; delete it and retry`);
        }
        if (!completed.has(w.path)) opts.onProgress?.(w.path, size, size);
      }
      fs.mkdirSync(snapshot, { recursive: true });
      return snapshot;
    });
  } catch (e) {
    if (e instanceof HubError) throw e;
    const err = explain(e, repo, s.hubUrl);
    // like huggingface_hub: with no connection, fall back to what the cache has for this revision
    if (cached && !(e as { statusCode?: number }).statusCode) return cached;
    throw err;
  }
}

/**
 * A local folder is returned as is (after checking it exists); otherwise an "owner/name" id is looked up in the
 * HF cache (offline-first) and downloaded with @huggingface/hub when missing. Returns the snapshot folder.
 */
export async function resolveModel(idOrPath: string, opts: HubOptions = {}): Promise<string> {
  if (!idOrPath) throw new HubError("no model given: pass a local folder or a hub id such as Qwen/Qwen2-0.5B");
  if (looksLocal(idOrPath)) {
    const p = path.resolve(expandHome(idOrPath));
    if (!fs.existsSync(p))
      throw new HubError(
        `model folder ${idOrPath} not found (${p}); give a folder with config.json + *.safetensors + tokenizer.json, or a hub id such as Qwen/Qwen2-0.5B`,
      );
    if (!fs.statSync(p).isDirectory())
      throw new HubError(
        `model ${idOrPath} is a file; give the folder that holds config.json, *.safetensors and tokenizer.json`,
      );
    return p;
  }
  if (!HUB_ID.test(idOrPath))
    throw new HubError(`"${idOrPath}" is neither an existing folder nor a hub id (owner/name)`);
  const repo: RepoRef = { type: "model", name: idOrPath };
  const s = settings(opts);
  const cached = cachedSnapshot(repo, s.revision, s.cacheDir);
  // complete = loadable and with its tokenizer (a download cut short may lack the latter); otherwise ask the hub,
  // which fetches only what is missing
  if (cached && missingModelFiles(cached).length === 0 && fs.existsSync(path.join(cached, "tokenizer.json")))
    return cached;
  const snapshot = await downloadRepoFiles(repo, isModelFile, {
    ...opts,
    onProgress: opts.onProgress ?? stderrProgress(),
  });
  const missing = missingModelFiles(snapshot);
  if (missing.length) {
    throw new HubError(
      `model "${idOrPath}" (${snapshot}) lacks ${missing.join(", ")}; only transformers checkpoints in safetensors format are supported${cached === snapshot ? " (the cache is incomplete and the hub could not be reached)" : ""}`,
    );
  }
  return snapshot;
}
