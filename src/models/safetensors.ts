// safetensors reader and writer (format: huggingface/safetensors README): 8-byte little-endian header length N,
// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw
// little-endian tensor bytes, offsets relative to the end of the header. Sharded checkpoints follow transformers'
// `model.safetensors.index.json` ({"metadata", "weight_map": {tensor: shard file}}). Reading is streamed: each shard
// keeps one file descriptor and readF32 reads only that tensor's byte range, so a 3B checkpoint is never held twice.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomic } from "../results.ts";

export type SafetensorsDtype = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** One tensor of a checkpoint; begin/end are absolute byte offsets in `file`. */
export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  file: string;
  begin: number;
  end: number;
}

export interface Checkpoint {
  /** The folder or file that was opened. */
  readonly path: string;
  readonly entries: ReadonlyMap<string, TensorEntry>;
  readonly metadata: Record<string, string>;
  has(name: string): boolean;
  /** Read one tensor converted to float32 (F16/BF16/F64/ints converted), reading only its bytes from disk. */
  readF32(name: string, expectShape?: readonly number[]): Float32Array;
  /** The tensor's raw little-endian bytes as stored. */
  readBytes(name: string): Uint8Array;
  close(): void;
}

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  data: Float32Array;
  dtype?: "F32" | "F16" | "BF16";
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";
/** The reference implementation refuses headers above 100 MB; so do we (a larger one means a corrupt length). */
const MAX_HEADER_BYTES = 100_000_000;
/** fs.readSync reads at most ~2 GiB per call; larger tensors are read in pieces. */
const READ_CHUNK = 1 << 30;

// ---- float16 / bfloat16 <-> float32 (bit-exact, round-to-nearest-even on the way down) ----

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
let f16Table: Float32Array | null = null;

/** IEEE-754 binary16 bits → float32 value (exact: subnormals, ±inf and NaN payloads included). */
export function f16BitsToF32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    // zero or subnormal: mant · 2^-24
    const v = mant * 2 ** -24;
    return sign ? -v : v;
  }
  if (exp === 0x1f)
    u32Scratch[0] = sign | 0x7f800000 | (mant << 13); // inf / NaN (payload kept)
  else u32Scratch[0] = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  return f32Scratch[0]!;
}

/** float32 value → binary16 bits, rounding to nearest even; overflow gives ±inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000; // 24-bit significand with the implicit 1
    const shift = 14 - e;
    let k = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && k & 1)) k++;
    return sign | k; // k may carry into 0x400 = the smallest normal, which is right
  }
  let k = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && k & 1)) k++; // may carry into 0x7c00 = inf, which is right
  return sign | k;
}

/** bfloat16 bits → float32 value (exact: bf16 is the top half of a float32). */
export function bf16BitsToF32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** float32 value → bfloat16 bits, rounding to nearest even; NaN stays a quiet NaN. */
export function f32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

function f16ToF32Array(src: Uint16Array, out: Float32Array): void {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  const t = f16Table;
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
}

function bf16ToF32Array(src: Uint16Array, out: Float32Array): void {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
}

// ---- reading ----

function assertLittleEndian(): void {
  if (os.endianness() !== "LE")
    throw new SafetensorsError("safetensors data is little-endian and this machine is big-endian; not supported");
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function readFully(fd: number, into: Uint8Array, position: number, file: string, what: string): void {
  let done = 0;
  while (done < into.length) {
    const n = fs.readSync(fd, into, done, Math.min(READ_CHUNK, into.length - done), position + done);
    if (n === 0) throw new SafetensorsError(`${file}: unexpected end of file while reading ${what} (file truncated?)`);
    done += n;
  }
}

interface ParsedFile {
  file: string;
  fd: number;
  entries: TensorEntry[];
  metadata: Record<string, string>;
}

/**
 * Open one .safetensors file and validate its header against the file size. Leaves the fd open.
 * long: the header checks in file order, each with its own error naming the file, the tensor and the fix.
 */
function parseFile(file: string): ParsedFile {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    throw new SafetensorsError(`${file}: cannot open safetensors file (${(e as Error).message})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8)
      throw new SafetensorsError(
        `${file}: file is ${size} bytes, too short for the 8-byte header length; not a safetensors file or truncated`,
      );
    const lenBuf = Buffer.alloc(8);
    readFully(fd, lenBuf, 0, file, "the header length");
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES))
      throw new SafetensorsError(
        `${file}: header length ${n} is implausible (> ${MAX_HEADER_BYTES} bytes); not a safetensors file or corrupt`,
      );
    const headerLen = Number(n);
    if (8 + headerLen > size)
      throw new SafetensorsError(
        `${file}: header length ${headerLen} runs past the end of the ${size}-byte file; the file is truncated or not safetensors`,
      );
    const headerBuf = Buffer.alloc(headerLen);
    readFully(fd, headerBuf, 8, file, "the header");
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString("utf8"));
    } catch (e) {
      throw new SafetensorsError(
        `${file}: header is not valid JSON (${(e as Error).message}); the file is corrupt or not safetensors`,
      );
    }
    if (typeof header !== "object" || header === null || Array.isArray(header))
      throw new SafetensorsError(`${file}: header is not a JSON object`);
    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const metadata: Record<string, string> = {};
    const entries: TensorEntry[] = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        if (raw && typeof raw === "object")
          for (const [k, v] of Object.entries(raw)) metadata[k] = typeof v === "string" ? v : JSON.stringify(v);
        continue;
      }
      const where = `${file}: tensor "${name}"`;
      const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!t || typeof t !== "object") throw new SafetensorsError(`${where}: header entry is not an object`);
      if (typeof t.dtype !== "string" || !(t.dtype in DTYPE_BYTES)) {
        throw new SafetensorsError(
          `${where}: unsupported dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(", ")})`,
        );
      }
      const dtype = t.dtype as SafetensorsDtype;
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0))
        throw new SafetensorsError(`${where}: shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
      const off = t.data_offsets;
      if (
        !Array.isArray(off) ||
        off.length !== 2 ||
        !off.every((o) => Number.isInteger(o) && o >= 0) ||
        off[0] > off[1]
      ) {
        throw new SafetensorsError(
          `${where}: data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`,
        );
      }
      const shape = t.shape as number[];
      const [b, e] = off as [number, number];
      const want = numel(shape) * DTYPE_BYTES[dtype];
      if (e - b !== want) {
        throw new SafetensorsError(
          `${where}: data_offsets [${b}, ${e}] hold ${e - b} bytes but ${dtype} ${fmtShape(shape)} needs ${want}; the header is corrupt`,
        );
      }
      if (e > dataLen) {
        throw new SafetensorsError(
          `${where}: data_offsets [${b}, ${e}] run past the end of the data (${dataLen} bytes after the header); the file is truncated (re-download it)`,
        );
      }
      entries.push({ name, dtype, shape, file, begin: dataStart + b, end: dataStart + e });
    }
    const sorted = [...entries].sort((x, y) => x.begin - y.begin);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!,
        cur = sorted[i]!;
      if (cur.begin < prev.end)
        throw new SafetensorsError(
          `${file}: tensors "${prev.name}" and "${cur.name}" overlap in the data section; the header is corrupt`,
        );
    }
    return { file, fd, entries, metadata };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Up to `k` names closest to `name` by edit distance (for "did you mean" messages). */
export function similarNames(name: string, names: Iterable<string>, k = 3): string[] {
  return [...names]
    .map((n) => ({ n, d: editDistance(name, n) }))
    .sort((x, y) => x.d - y.d || (x.n < y.n ? -1 : 1))
    .slice(0, k)
    .map((x) => x.n);
}

function readIndex(indexFile: string): { weightMap: Map<string, string>; metadata: Record<string, string> } {
  let j: unknown;
  try {
    j = JSON.parse(fs.readFileSync(indexFile, "utf8"));
  } catch (e) {
    throw new SafetensorsError(`${indexFile}: cannot read the shard index (${(e as Error).message})`);
  }
  const wm = (j as { weight_map?: unknown })?.weight_map;
  if (!wm || typeof wm !== "object" || Array.isArray(wm))
    throw new SafetensorsError(`${indexFile}: no "weight_map" object ({"tensor name": "shard file"})`);
  const weightMap = new Map<string, string>();
  for (const [k, v] of Object.entries(wm)) {
    if (typeof v !== "string") throw new SafetensorsError(`${indexFile}: weight_map["${k}"] is not a file name`);
    weightMap.set(k, v);
  }
  const metadata: Record<string, string> = {};
  const md = (j as { metadata?: unknown }).metadata;
  if (md && typeof md === "object")
    for (const [k, v] of Object.entries(md)) metadata[k] = typeof v === "string" ? v : JSON.stringify(v);
  return { weightMap, metadata };
}

/** Decide which files make up the checkpoint at `p` (a folder, an index.json or a .safetensors file). */
function locate(p: string): { index: string | null; files: string[] } {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new SafetensorsError(
      `${p}: checkpoint not found (give a folder with ${SINGLE_FILE} or ${INDEX_FILE}, or a .safetensors file)`,
    );
  }
  if (st.isFile()) return p.endsWith(".json") ? { index: p, files: [] } : { index: null, files: [p] };
  const index = path.join(p, INDEX_FILE);
  if (fs.existsSync(index)) return { index, files: [] };
  const single = path.join(p, SINGLE_FILE);
  if (fs.existsSync(single)) return { index: null, files: [single] };
  const found = fs
    .readdirSync(p)
    .filter((f) => f.endsWith(".safetensors"))
    .sort();
  if (found.length === 1) return { index: null, files: [path.join(p, found[0]!)] };
  if (found.length === 0) {
    const bins = fs.readdirSync(p).filter((f) => /\.(bin|pth|pt|ckpt)$/.test(f));
    const hint = bins.length ? ` (found ${bins.join(", ")}: PyTorch pickles are not read; convert to safetensors)` : "";
    throw new SafetensorsError(`${p}: no .safetensors file in this folder${hint}`);
  }
  throw new SafetensorsError(
    `${p}: ${found.length} .safetensors files (${found.slice(0, 4).join(", ")}…) but no ${INDEX_FILE} saying which tensor is in which shard`,
  );
}

/** Open a checkpoint: `p` is a folder (model.safetensors, or model.safetensors.index.json + shards, or a single
 *  *.safetensors) or a file (.safetensors or an index .json). Only headers are read here. */
export function openCheckpoint(p: string): Checkpoint {
  assertLittleEndian();
  const { index, files } = locate(p);
  const opened: ParsedFile[] = [];
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  try {
    if (index) {
      const { weightMap, metadata: indexMeta } = readIndex(index);
      const dir = path.dirname(index);
      const byShard = new Map<string, string[]>();
      for (const [name, shard] of weightMap) byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
      for (const [shard, names] of byShard) {
        const file = path.join(dir, shard);
        if (!fs.existsSync(file))
          throw new SafetensorsError(
            `${index}: weight_map points at shard "${shard}" (for ${names.length} tensors, e.g. "${names[0]}") but ${file} does not exist; download the missing shard`,
          );
        const pf = parseFile(file);
        opened.push(pf);
        const inShard = new Map(pf.entries.map((e) => [e.name, e]));
        for (const name of names) {
          const e = inShard.get(name);
          if (!e)
            throw new SafetensorsError(
              `${index}: weight_map puts tensor "${name}" in ${shard}, but ${file} has no such tensor; the index and shards do not match`,
            );
          entries.set(name, e);
        }
        metadata = { ...metadata, ...pf.metadata };
      }
      metadata = { ...metadata, ...indexMeta };
    } else {
      const pf = parseFile(files[0]!);
      opened.push(pf);
      for (const e of pf.entries) entries.set(e.name, e);
      metadata = pf.metadata;
    }
  } catch (e) {
    for (const pf of opened) fs.closeSync(pf.fd);
    throw e;
  }
  const fds = new Map(opened.map((pf) => [pf.file, pf.fd]));
  let closed = false;

  const entryOf = (name: string): TensorEntry => {
    const e = entries.get(name);
    if (!e) {
      const near = similarNames(name, entries.keys());
      throw new SafetensorsError(
        `${p}: no tensor "${name}" in the checkpoint (${entries.size} tensors; closest: ${near.map((n) => `"${n}"`).join(", ") || "none"})`,
      );
    }
    return e;
  };
  const readInto = (e: TensorEntry, into: Uint8Array): void => {
    if (closed) throw new SafetensorsError(`${p}: checkpoint is closed; cannot read "${e.name}"`);
    readFully(fds.get(e.file)!, into, e.begin, e.file, `tensor "${e.name}"`);
  };

  return {
    path: p,
    entries,
    metadata,
    has: (name) => entries.has(name),
    readBytes(name) {
      const e = entryOf(name);
      const out = new Uint8Array(e.end - e.begin);
      readInto(e, out);
      return out;
    },
    readF32(name, expectShape) {
      const e = entryOf(name);
      if (expectShape && (expectShape.length !== e.shape.length || expectShape.some((d, i) => d !== e.shape[i]))) {
        throw new SafetensorsError(
          `${e.file}: tensor "${name}" has shape ${fmtShape(e.shape)} but ${fmtShape(expectShape)} was expected (does config.json match these weights?)`,
        );
      }
      const n = numel(e.shape);
      const out = new Float32Array(n);
      const bytes = e.end - e.begin;
      switch (e.dtype) {
        case "F32":
          readInto(e, new Uint8Array(out.buffer));
          break;
        case "F16":
        case "BF16": {
          const half = new Uint16Array(n);
          readInto(e, new Uint8Array(half.buffer));
          (e.dtype === "F16" ? f16ToF32Array : bf16ToF32Array)(half, out);
          break;
        }
        default: {
          const raw = new Uint8Array(bytes);
          readInto(e, raw);
          const src =
            e.dtype === "F64"
              ? new Float64Array(raw.buffer)
              : e.dtype === "I64"
                ? new BigInt64Array(raw.buffer)
                : e.dtype === "I32"
                  ? new Int32Array(raw.buffer)
                  : e.dtype === "I16"
                    ? new Int16Array(raw.buffer)
                    : e.dtype === "I8"
                      ? new Int8Array(raw.buffer)
                      : raw; // U8, BOOL
          for (let i = 0; i < n; i++) out[i] = Number(src[i]!);
        }
      }
      return out;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const fd of fds.values()) fs.closeSync(fd);
    },
  };
}

// ---- writing ----

/** Write tensors (float32 in memory, stored as F32/F16/BF16) as one safetensors file, atomically.
 *  Header padded with spaces to a multiple of 8 so the data is aligned, as the reference writer does. */
export function writeSafetensors(
  file: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): void {
  assertLittleEndian();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    const dtype = t.dtype ?? "F32";
    if (!t.name || t.name === "__metadata__")
      throw new SafetensorsError(`${file}: invalid tensor name ${JSON.stringify(t.name)}`);
    if (seen.has(t.name)) throw new SafetensorsError(`${file}: tensor "${t.name}" given twice`);
    seen.add(t.name);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new SafetensorsError(`${file}: tensor "${t.name}" has invalid shape ${fmtShape(t.shape)}`);
    if (numel(t.shape) !== t.data.length)
      throw new SafetensorsError(
        `${file}: tensor "${t.name}" has ${t.data.length} values but shape ${fmtShape(t.shape)} needs ${numel(t.shape)}`,
      );
    const size = t.data.length * DTYPE_BYTES[dtype];
    header[t.name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const t of tensors) {
    const dtype = t.dtype ?? "F32";
    if (dtype === "F32") {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
      pos += t.data.byteLength;
    } else {
      const half = new Uint16Array(t.data.length);
      const conv = dtype === "F16" ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < t.data.length; i++) half[i] = conv(t.data[i]!);
      out.set(new Uint8Array(half.buffer), pos);
      pos += half.byteLength;
    }
  }
  writeFileAtomic(file, out);
}
