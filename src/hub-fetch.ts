// The fetch that hub downloads go through (src/hub.ts hands it to @huggingface/hub): a connect timeout (no response
// headers within N s), an idle timeout (no body bytes for N s), retries with exponential backoff on network errors,
// timeouts, 5xx and 429, and resumable file downloads: the bytes of a file download are kept in a partial file
// (<cache>/.lora-lab-partial/<hash of the URL>.part, with its ETag and size) while they arrive, so a retry or a later
// run asks only for the rest (Range + If-Range: the server sends the whole file again if the ETag changed), and the
// result is checked against the announced size. See docs/scale-out.md ("Downloads").
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export interface RobustFetchOptions {
  /** Seconds to wait for response headers. */
  connectTimeoutSeconds: number;
  /** Seconds without a body byte before the transfer is abandoned (and retried). */
  idleTimeoutSeconds: number;
  /** Extra attempts after the first. */
  retries: number;
  /** First backoff in seconds (doubles per attempt, with jitter). */
  backoffSeconds: number;
  /** Where partial downloads are kept. */
  partialDir: string;
  log?: (msg: string) => void;
}

function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : fallback;
}

/** Defaults, overridable with LORA_LAB_HUB_CONNECT_TIMEOUT / _IDLE_TIMEOUT / _RETRIES (seconds, count). */
export function defaultFetchOptions(partialDir: string): RobustFetchOptions {
  return {
    connectTimeoutSeconds: envNumber("LORA_LAB_HUB_CONNECT_TIMEOUT", 30),
    idleTimeoutSeconds: envNumber("LORA_LAB_HUB_IDLE_TIMEOUT", 60),
    retries: envNumber("LORA_LAB_HUB_RETRIES", 4),
    backoffSeconds: 0.5,
    partialDir,
  };
}

/** A download that stopped short (broken connection, stalled, fewer bytes than announced): worth resuming. */
export class TransferError extends Error {
  override name = "TransferError";
}

export class FetchTimeoutError extends TransferError {
  override name = "FetchTimeoutError";
}

class RetryableStatus extends Error {
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`HTTP ${status} from ${url}`);
  }
}

const urlOf = (input: Parameters<typeof fetch>[0]) =>
  typeof input === "string" ? input : input instanceof URL ? input.href : input.url;

/** Read a response body to the end with the idle timeout; the bytes. */
async function readAll(resp: Response, idleMs: number, url: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of idleGuard(resp.body, idleMs, url)) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The body's chunks; throws FetchTimeoutError when no chunk arrives for idleMs. */
async function* idleGuard(
  body: ReadableStream<Uint8Array> | null,
  idleMs: number,
  url: string,
): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new FetchTimeoutError(`${url}: no data for ${idleMs / 1000} s`)), idleMs);
      });
      try {
        const r = await Promise.race([reader.read(), timeout]);
        if (r.done) return;
        yield r.value;
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** fetch with the connect timeout: rejects with FetchTimeoutError when no headers arrive in time. */
async function fetchWithConnectTimeout(
  base: typeof fetch,
  url: string,
  init: RequestInit | undefined,
  ms: number,
): Promise<{ resp: Response; abort: AbortController }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new FetchTimeoutError(`${url}: no answer within ${ms / 1000} s`)), ms);
  const signals = init?.signal ? AbortSignal.any([init.signal, abort.signal]) : abort.signal;
  try {
    return { resp: await base(url, { ...init, signal: signals }), abort };
  } catch (e) {
    throw abort.signal.aborted ? abort.signal.reason : e;
  } finally {
    clearTimeout(timer);
  }
}

function retryable(e: unknown): boolean {
  if (e instanceof TransferError || e instanceof RetryableStatus) return true;
  const err = e as { name?: string; cause?: { code?: string } };
  return err.name === "TypeError" || !!err.cause?.code; // undici's "fetch failed" (ECONNRESET, ECONNREFUSED, …)
}

interface PartialMeta {
  url: string;
  etag: string | null;
  total: number;
}

function partialPaths(dir: string, url: string) {
  const base = path.join(dir, createHash("sha256").update(url).digest("hex").slice(0, 32));
  return { part: `${base}.part`, meta: `${base}.json` };
}

function readMeta(file: string): PartialMeta | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as PartialMeta;
  } catch {
    return null;
  }
}

/**
 * One attempt at a whole-file download, resuming from the partial file. The returned Response streams the whole
 * file (kept bytes, then new ones, appended to the partial file as they arrive) and errors when the transfer stops
 * short of the announced size; the partial file is removed once the file is complete.
 */
async function resumableDownload(
  base: typeof fetch,
  url: string,
  init: RequestInit | undefined,
  o: RobustFetchOptions,
): Promise<Response> {
  fs.mkdirSync(o.partialDir, { recursive: true });
  const { part, meta } = partialPaths(o.partialDir, url);
  const m = readMeta(meta);
  let have = m && m.url === url && fs.existsSync(part) ? fs.statSync(part).size : 0;
  const headers = new Headers(init?.headers);
  if (have > 0) {
    headers.set("Range", `bytes=${have}-`);
    if (m?.etag) headers.set("If-Range", m.etag);
  }
  const { resp } = await fetchWithConnectTimeout(base, url, { ...init, headers }, o.connectTimeoutSeconds * 1000);
  if (resp.status >= 500 || resp.status === 429) throw new RetryableStatus(resp.status, url);
  if (resp.status === 416 && have > 0) {
    // the partial file is not a prefix of what the server has now: start over
    fs.rmSync(part, { force: true });
    throw new RetryableStatus(416, url);
  }
  if (!resp.ok || !resp.body) return resp;
  let total: number;
  if (resp.status === 206) {
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(resp.headers.get("Content-Range") ?? "");
    if (!cr || Number(cr[1]) !== have) {
      fs.rmSync(part, { force: true });
      throw new RetryableStatus(416, url);
    }
    total = Number(cr[3]);
    o.log?.(`resuming ${path.basename(new URL(url).pathname)} at ${have} of ${total} bytes`);
  } else {
    have = 0;
    fs.writeFileSync(part, "");
    total = Number(resp.headers.get("Content-Length") ?? NaN);
  }
  const etag = resp.headers.get("X-Linked-ETag") ?? resp.headers.get("ETag");
  fs.writeFileSync(meta, JSON.stringify({ url, etag, total } satisfies PartialMeta));
  const idleMs = o.idleTimeoutSeconds * 1000;
  const kept = have;
  const stream = new ReadableStream<Uint8Array>({
    async start(ctl) {
      const fd = fs.openSync(part, "a");
      let got = kept;
      try {
        if (kept > 0) ctl.enqueue(fs.readFileSync(part).subarray(0, kept));
        for await (const chunk of idleGuard(resp.body, idleMs, url)) {
          fs.writeSync(fd, chunk);
          got += chunk.byteLength;
          ctl.enqueue(chunk);
        }
        if (Number.isFinite(total) && got !== total)
          throw new TransferError(`${url}: the transfer stopped at ${got} of ${total} bytes`);
        fs.closeSync(fd);
        fs.rmSync(part, { force: true });
        fs.rmSync(meta, { force: true });
        ctl.close();
      } catch (e) {
        fs.closeSync(fd);
        const why = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
        ctl.error(
          e instanceof TransferError
            ? e
            : new TransferError(`${url}: the transfer broke off at ${got} of ${total} bytes (${why})`),
        );
      }
    },
  });
  const h = new Headers(resp.headers);
  h.delete("Content-Range");
  if (Number.isFinite(total)) h.set("Content-Length", String(total));
  return new Response(stream, { status: 200, statusText: "OK", headers: h });
}

/**
 * A fetch for @huggingface/hub. API calls are read whole inside the timeouts (so a stalled answer is retried);
 * whole-file GETs of /resolve/ URLs are resumable downloads. A download that fails mid-body is resumed by the
 * next call (src/hub.ts retries each file).
 */
export function robustFetch(o: RobustFetchOptions, base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const url = urlOf(input);
    const method = (init?.method ?? "GET").toUpperCase();
    const download = method === "GET" && url.includes("/resolve/") && !new Headers(init?.headers).has("Range");
    for (let attempt = 0; ; attempt++) {
      try {
        if (download) return await resumableDownload(base, url, init, o);
        const { resp } = await fetchWithConnectTimeout(base, url, init, o.connectTimeoutSeconds * 1000);
        if (resp.status >= 500 || resp.status === 429) throw new RetryableStatus(resp.status, url);
        if (method === "HEAD" || !resp.body) return resp;
        const body = await readAll(resp, o.idleTimeoutSeconds * 1000, url);
        return new Response(body, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
      } catch (e) {
        if (!retryable(e) || attempt >= o.retries) throw e;
        const wait = o.backoffSeconds * 2 ** attempt * (0.75 + 0.5 * Math.random());
        o.log?.(`${(e as Error).message}; retrying in ${wait.toFixed(1)} s (${attempt + 1}/${o.retries})`);
        await new Promise((r) => setTimeout(r, wait * 1000));
      }
    }
  };
}
