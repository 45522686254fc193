// Picks the TensorFlow.js backend: tensorflow (tfjs-node-gpu, then tfjs-node: optional dependencies that only
// install where libtensorflow can be downloaded) → webgpu (Dawn over Vulkan, only with a hardware adapter;
// src/webgpu.ts) → wasm (XNNPACK + SIMD, the default on CPU machines) → cpu (pure JS, the slow oracle).
// `@tensorflow/tfjs` (not tfjs-core alone) is imported so gradients are registered.
// docs/engine.md §1 says why this order and why every import error is caught; docs/webgpu.md covers webgpu.
import * as tf from "@tensorflow/tfjs";
import { enableNativeMatmul } from "./native-matmul.ts";
import { enableTapeRelease } from "./tape-release.ts";
import { enableZeroCopyIdentity } from "./wasm-zero-copy.ts";
import { setUpWebgpu, uploadToWebgpu, webgpuDeviceLost, webgpuTensorLimit, type GpuAdapterInfo } from "./webgpu.ts";

export type BackendName = "tensorflow" | "webgpu" | "wasm" | "cpu";
export type BackendChoice = BackendName | "auto";
export const BACKEND_CHOICES = [
  "auto",
  "tensorflow",
  "webgpu",
  "wasm",
  "cpu",
] as const satisfies readonly BackendChoice[];
const AUTO_ORDER: readonly BackendName[] = ["tensorflow", "webgpu", "wasm", "cpu"];

export interface BackendInfo {
  /** The tfjs backend that runs (tf.getBackend()). */
  readonly name: BackendName;
  /** Which package provides it, e.g. "@tensorflow/tfjs-node-gpu". */
  readonly provider: string;
  /** For tensorflow: whether a GPU is visible; for wasm: whether the SIMD binary is used. */
  readonly detail: string;
  /** Why faster backends were skipped (for the run's provenance). */
  readonly skipped: readonly string[];
  /** webgpu: the adapter that runs (vendor, architecture, device, description, buffer limits). */
  readonly gpu?: GpuAdapterInfo;
}

let current: BackendInfo | undefined;
let gpuDevice: number | undefined;

/** `--device INDEX`: which WebGPU adapter to use where there are several (call before initBackend). */
export function selectGpuDevice(index: number | undefined): void {
  gpuDevice = index;
}

/** Initialise and select a backend. `auto` falls through tensorflow → wasm → cpu; a named backend fails clearly. */
export async function initBackend(choice: BackendChoice = "auto"): Promise<BackendInfo> {
  if (current && (choice === "auto" || choice === current.name)) return current;
  const order: readonly BackendName[] = choice === "auto" ? AUTO_ORDER : [choice];
  const skipped: string[] = [];
  for (const name of order) {
    const r = await tryBackend(name, choice === "webgpu");
    if (typeof r === "string") {
      skipped.push(`${name}: ${r}`);
      continue;
    }
    // The backward frees each node's gradients as it goes (src/tape-release.ts); not on webgpu (docs/webgpu.md).
    if (name !== "webgpu") enableTapeRelease();
    current = { ...r, skipped };
    return current;
  }
  throw new Error(
    `backend "${choice}" is not available (${skipped.join("; ")}). ` +
      (choice === "tensorflow"
        ? "Install @tensorflow/tfjs-node-gpu (CUDA 11.2 + cuDNN 8) or @tensorflow/tfjs-node, or use --backend auto."
        : choice === "webgpu"
          ? 'See README "Backends and performance" for what a GPU machine needs.'
          : "Use --backend auto to pick the fastest available one."),
  );
}

/** The backend selected by initBackend (throws if none was initialised). */
export function backendInfo(): BackendInfo {
  if (!current) throw new Error("initBackend() has not been called");
  return current;
}

async function tryBackend(name: BackendName, allowSoftwareGpu = false): Promise<Omit<BackendInfo, "skipped"> | string> {
  try {
    if (name === "webgpu") {
      const gpu = await setUpWebgpu({ allowSoftware: allowSoftwareGpu, device: gpuDevice });
      if (typeof gpu === "string") return gpu;
      const detail =
        `${gpu.vendor} ${gpu.architecture} ${gpu.description || gpu.device}`.trim() +
        (gpu.software ? " (software)" : "");
      return { name, provider: "@tensorflow/tfjs-backend-webgpu (Dawn)", detail, gpu };
    }
    if (name === "tensorflow") {
      for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
        try {
          await import(pkg);
        } catch (e) {
          // Not installed (ERR_MODULE_NOT_FOUND) or installed without its native addon (plain Error): both mean "no".
          if (pkg.endsWith("tfjs-node")) return `not installed (${firstLine(e)})`;
          continue;
        }
        if (!(await tf.setBackend("tensorflow"))) return `${pkg} loaded but setBackend("tensorflow") failed`;
        await tf.ready();
        const gpu = pkg.endsWith("-gpu") ? "gpu build" : "cpu build";
        return { name, provider: pkg, detail: gpu };
      }
      return "not installed";
    }
    if (name === "wasm") {
      const wasm = await import("@tensorflow/tfjs-backend-wasm");
      void wasm;
      if (!(await tf.setBackend("wasm"))) return `setBackend("wasm") failed`;
      await tf.ready();
      const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
      enableZeroCopyIdentity(); // saved-for-backward clones share buffers instead of copying (src/wasm-zero-copy.ts)
      const native = enableNativeMatmul(); // optional addon (src/native-matmul.ts); LORA_LAB_NATIVE_MATMUL=0 turns it off
      const detail = (simd ? "simd" : "no-simd") + (native.active ? `, native matmul (${native.detail})` : "");
      return { name, provider: "@tensorflow/tfjs-backend-wasm", detail };
    }
    if (!(await tf.setBackend("cpu"))) return `setBackend("cpu") failed`;
    await tf.ready();
    return { name, provider: "@tensorflow/tfjs-backend-cpu", detail: "js" };
  } catch (e) {
    return firstLine(e);
  }
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0] ?? "error";
}

export interface BackendProbe {
  name: BackendName;
  available: boolean;
  detail: string;
  /** webgpu: the adapter found (software ones included; auto skips those). */
  gpu?: GpuAdapterInfo;
}

/** Which backends can initialise here (for `list`). Leaves the one `auto` picks selected. */
export async function probeBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const name of AUTO_ORDER) {
    const r = await tryBackend(name, true);
    if (typeof r === "string") out.push({ name, available: false, detail: r });
    else out.push({ name, available: true, detail: `${r.provider} (${r.detail})`, ...(r.gpu ? { gpu: r.gpu } : {}) });
  }
  current = undefined;
  await initBackend("auto");
  return out;
}

/** Bytes a single tensor may take on the current backend (undefined: no limit beyond memory). */
export function tensorByteLimit(): number | undefined {
  return current?.name === "webgpu" ? webgpuTensorLimit() : undefined;
}

/** Move a freshly created weight tensor to the device now (a no-op except on webgpu, whose upload is lazy). */
export function placeOnDevice<T extends tf.Tensor>(t: T): T {
  if (current?.name === "webgpu") uploadToWebgpu(t);
  return t;
}

/**
 * Every tensor of `shapes` must fit the backend's per-tensor limit: a clear error naming the tensor and the limit,
 * before anything is loaded.
 */
export function checkTensorsFit(shapes: ReadonlyMap<string, readonly number[]>, what: string): void {
  const limit = tensorByteLimit();
  if (limit === undefined) return;
  for (const [name, shape] of shapes) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    if (bytes > limit) {
      throw new Error(
        `${what}: tensor "${name}" [${shape.join(", ")}] takes ${(bytes / 2 ** 20).toFixed(0)} MiB as fp32, more than one ` +
          `buffer may hold on this ${current!.name} adapter (${(limit / 2 ** 20).toFixed(0)} MiB = min(maxBufferSize, ` +
          `maxStorageBufferBindingSize) of ${current!.detail}). Use a backend without that limit (--backend wasm/cpu/tensorflow).`,
      );
    }
  }
}

/**
 * Throws when the backend can no longer compute (a lost WebGPU device: its kernels no longer run and its reads are
 * not trustworthy). The training loop calls it after every step, before anything is logged or checkpointed.
 */
export function assertBackendAlive(): void {
  const lost = current?.name === "webgpu" ? webgpuDeviceLost() : undefined;
  if (lost)
    throw new Error(
      `the WebGPU device was lost (${lost}); the last checkpoint is intact: rerun the same command to resume`,
    );
}
