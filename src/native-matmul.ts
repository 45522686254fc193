// Optional native matmul for the wasm backend (docs/engine.md §4) re-registers tfjs-wasm's `BatchMatMul` kernel so that
// every float32 product runs in the `lora-lab-matmul` addon (native/lora-lab-matmul: blocked AVX2+FMA sgemm, 2 threads),
// reading the operands straight from the wasm heap and writing into a heap tensor made by backend.makeOutput (no copies).
// Semantics follow @tensorflow/tfjs-backend-wasm 4.22 kernels/BatchMatMul.js exactly (rank ≥ 2, transposeA/B, output
// batch i reads A batch i % batchA and B batch i % batchB); anything else is handed to the original kernel.
// The addon is an optionalDependency built by node-gyp: when it is absent nothing changes.
// LORA_LAB_NATIVE_MATMUL=0 turns it off.
import { createRequire } from "node:module";
import * as os from "node:os";
import * as tf from "@tensorflow/tfjs";

/** The addon's API (native/lora-lab-matmul/src/matmul.cc). Offsets are in bytes into `heap`. */
export interface MatmulAddon {
  sgemm(
    heap: ArrayBufferLike,
    aOffset: number,
    bOffset: number,
    cOffset: number,
    batchA: number,
    batchB: number,
    M: number,
    N: number,
    K: number,
    transposeA: boolean,
    transposeB: boolean,
    threads: number,
    accumulate?: boolean,
  ): void;
  /** "avx2+fma" or "portable": the microkernel chosen at load time. */
  isa(): string;
  /** Threads for the fused kernels' row and element loops (native/lora-lab-matmul/src/fused.cc). */
  setThreads(threads: number): void;
}

export interface NativeMatmulStatus {
  readonly active: boolean;
  /** e.g. "avx2+fma, 2 threads", or why it is off ("LORA_LAB_NATIVE_MATMUL=0", "addon not built: …"). */
  readonly detail: string;
}

/** The parts of tfjs-backend-wasm's BackendWasm this kernel uses (dist/backend_wasm.d.ts). */
interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** Time in the addon's sgemm (BatchMatMul and the fused kernels' products); src/bench/kernel-census.ts reads it. */
export const sgemmClock = { ms: 0, calls: 0 };

/** Runs one sgemm call under sgemmClock. */
export function timedSgemm(f: () => void): void {
  const t0 = performance.now();
  f();
  sgemmClock.ms += performance.now() - t0;
  sgemmClock.calls++;
}

let addon: MatmulAddon | string | undefined;
let original: tf.KernelConfig | undefined;
let status: NativeMatmulStatus | undefined;

/** Loads the addon once from node_modules (where npm built it); returns why not, as a string. */
export function loadMatmulAddon(): MatmulAddon | string {
  if (addon !== undefined) return addon;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const id of ["lora-lab-matmul"]) {
    try {
      const m = require(id) as MatmulAddon;
      if (typeof m.sgemm === "function" && typeof m.isa === "function") return (addon = m);
      tried.push(`${id}: no sgemm export`);
    } catch (e) {
      tried.push(`${id}: ${String(e instanceof Error ? e.message : e).split("\n")[0]}`);
    }
  }
  return (addon = `addon not built (${tried.join("; ")})`);
}

/** Worker threads per product: LORA_LAB_NATIVE_MATMUL_THREADS, else min(2, cores). */
export function nativeMatmulThreads(): number {
  return (threadsCache ??= readThreadCount());
}

let threadsCache: number | undefined;

function readThreadCount(): number {
  const v = Number(process.env.LORA_LAB_NATIVE_MATMUL_THREADS);
  if (Number.isInteger(v) && v >= 1) return v;
  return Math.max(1, Math.min(2, os.availableParallelism()));
}

/**
 * Replaces the wasm BatchMatMul kernel by the native one when the backend is wasm, the addon loads and
 * LORA_LAB_NATIVE_MATMUL is not "0". Idempotent; returns what is in effect.
 */
export function enableNativeMatmul(): NativeMatmulStatus {
  if (status?.active) return status;
  if (process.env.LORA_LAB_NATIVE_MATMUL === "0")
    return (status = { active: false, detail: "LORA_LAB_NATIVE_MATMUL=0" });
  if (tf.getBackend() !== "wasm")
    return (status = { active: false, detail: `backend is ${tf.getBackend()}, not wasm` });
  const m = loadMatmulAddon();
  if (typeof m === "string") return (status = { active: false, detail: m });
  const wasmKernel = tf.getKernel(tf.BatchMatMul, "wasm");
  if (!wasmKernel) return (status = { active: false, detail: "wasm BatchMatMul kernel not registered" });
  original = wasmKernel;
  const threads = nativeMatmulThreads();
  m.setThreads(threads);
  const fallback = wasmKernel.kernelFunc;
  // The portable (SSE2) microkernel does ~8 GFLOP/s: below XNNPACK's ~15 on plain 2-D products, far above the wasm
  // kernel's ~1 on transposed or batched ones. AVX2+FMA (~80 per core) wins on every shape measured, even N = r = 8.
  const keepXnnpack = m.isa() === "portable";
  const kernelFunc: tf.KernelFunc = (args) => nativeBatchMatMul(m, threads, keepXnnpack, fallback, args);
  tf.unregisterKernel(tf.BatchMatMul, "wasm");
  tf.registerKernel({ kernelName: tf.BatchMatMul, backendName: "wasm", kernelFunc });
  return (status = { active: true, detail: `${m.isa()}, ${threads} thread${threads > 1 ? "s" : ""}` });
}

/** Puts the original wasm kernel back (tests compare against it). Returns whether anything was restored. */
export function disableNativeMatmul(): boolean {
  if (!original || !status?.active) return false;
  tf.unregisterKernel(tf.BatchMatMul, "wasm");
  tf.registerKernel(original);
  status = { active: false, detail: "disabled" };
  return true;
}

export function nativeMatmulActive(): boolean {
  return status?.active === true;
}

function nativeBatchMatMul(
  m: MatmulAddon,
  threads: number,
  keepXnnpack: boolean,
  fallback: tf.KernelFunc,
  args: Parameters<tf.KernelFunc>[0],
): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as unknown as WasmBackendLike;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  if (a.dtype !== "float32" || b.dtype !== "float32" || aRank < 2 || bRank < 2) return fallback(args) as tf.TensorInfo;
  const K = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
  const kB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
  const M = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
  const N = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
  if (K !== kB) return fallback(args) as tf.TensorInfo; // throws the wasm kernel's own message
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  // Full broadcasting across several batch axes (e.g. [2,1]×[1,3]) is not what the wasm kernel's i % batch does.
  if (tf.util.sizeFromShape(outer) !== batch || batchA === 0 || batchB === 0) return fallback(args) as tf.TensorInfo;
  // Plain 2-D products stay on XNNPACK with the portable kernel (not for K = 0: XNNPACK returns garbage there).
  if (keepXnnpack && !transposeA && !transposeB && batch === 1 && K > 0) return fallback(args) as tf.TensorInfo;
  const out = backend.makeOutput([...outer, M, N], "float32");
  const aOffset = backend.dataIdMap.get(a.dataId)!.memoryOffset;
  const bOffset = backend.dataIdMap.get(b.dataId)!.memoryOffset;
  const cOffset = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  // HEAPU8 is read after makeOutput: a heap growth there replaces the ArrayBuffer.
  const heap = backend.wasm.HEAPU8.buffer;
  timedSgemm(() => m.sgemm(heap, aOffset, bOffset, cOffset, batchA, batchB, M, N, K, transposeA, transposeB, threads));
  return out;
}
