// The Node shims that let @tensorflow/tfjs-backend-webgpu run on Dawn (the `webgpu` npm package, prebuilt dawn.node):
// Dawn's globals and `navigator.gpu` before the backend is imported, the adapter choice (a hardware adapter unless
// software is allowed; --device picks one of several), a device requested with the adapter's maximum limits (so
// multi-GB weight tensors fit) and only flat feature names (tfjs passes one as an array, which Dawn rejects), and the
// backend registered on that device. No other module knows the backend runs on WebGPU. Facts: docs/webgpu.md.
import * as tf from "@tensorflow/tfjs";

/** What `list` prints and every run records about the adapter. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** SwiftShader, llvmpipe/lavapipe or any adapter Dawn reports as a fallback: correct, but a CPU. */
  software: boolean;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/** Where a Vulkan adapter was looked for, for the error when none is found. */
export const NO_ADAPTER_HINT =
  "Dawn found no Vulkan adapter. A GPU needs its driver's Vulkan ICD (NVIDIA: the driver's nvidia_icd.json under " +
  "/usr/share/vulkan/icd.d or /etc/vulkan/icd.d; in containers NVIDIA_DRIVER_CAPABILITIES must include graphics) and " +
  "the Vulkan loader libvulkan.so.1 (Debian: libvulkan1). VK_ICD_FILENAMES=<icd.json> points the loader at one ICD, " +
  "e.g. SwiftShader's /usr/lib/chromium/vk_swiftshader_icd.json (a CPU Vulkan: for tests only)";

/** The CPU Vulkan that Debian's chromium package ships (SwiftShader); tests point VK_ICD_FILENAMES at it. */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

// The few WebGPU types used here, declared locally so type checking never depends on the optional package.
interface GpuDevice {
  readonly lost: Promise<{ reason: string; message: string }>;
  destroy(): void;
}
interface GpuAdapter {
  readonly info: {
    vendor: string;
    architecture: string;
    device: string;
    description: string;
    isFallbackAdapter?: boolean;
  };
  readonly limits: Readonly<Record<string, number>> & { maxBufferSize: number; maxStorageBufferBindingSize: number };
  readonly features: { has(name: string): boolean };
  requestDevice(descriptor: { requiredFeatures: string[]; requiredLimits: Record<string, number> }): Promise<GpuDevice>;
}
interface Gpu {
  requestAdapter(options?: { powerPreference?: "high-performance" | "low-power" }): Promise<GpuAdapter | null>;
}
interface Dawn {
  create(flags: string[]): Gpu;
  globals: object;
}

let dawn: Dawn | undefined;
let active: { info: GpuAdapterInfo; device: GpuDevice; lost?: string } | undefined;

async function loadDawn(): Promise<Dawn | string> {
  if (dawn) return dawn;
  try {
    const pkg = "webgpu"; // an optional dependency: resolved at run time only
    dawn = (await import(pkg)) as Dawn;
  } catch (e) {
    return `the optional package "webgpu" (dawn.node) is not installed or does not load here (${String(e instanceof Error ? e.message : e).split("\n")[0]})`;
  }
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUMapMode, … which the backend reads as globals
  return dawn;
}

function describe(adapter: GpuAdapter): GpuAdapterInfo {
  const i = adapter.info;
  const text = [i.vendor, i.architecture, i.device, i.description].join(" ");
  return {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    software: Boolean(i.isFallbackAdapter) || SOFTWARE.test(text),
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  };
}

/**
 * The adapters Dawn enumerates (backend and device name). dawn.node has no enumeration call: asking for an adapter by a
 * name that matches none makes it reject with the list of available ones, which is parsed here.
 */
export async function enumerateAdapters(): Promise<{ backend: string; name: string }[] | string> {
  const d = await loadDawn();
  if (typeof d === "string") return d;
  try {
    const a = await d.create(["adapter=\u0001no-such-adapter"]).requestAdapter();
    return a ? [] : []; // resolved: no adapters at all (Dawn only rejects when some exist)
  } catch (e) {
    const msg = String(e instanceof Error ? e.message : e);
    return [...msg.matchAll(/\* backend: '([^']*)', name: '([^']*)'/g)].map((m) => ({ backend: m[1]!, name: m[2]! }));
  }
}

/** Dawn flags that select adapter `index` of enumerateAdapters (by its device name; Dawn selects by name only). */
async function flagsForDevice(index: number | undefined): Promise<string[]> {
  if (index === undefined) return [];
  const list = await enumerateAdapters();
  if (typeof list === "string") throw new Error(list);
  const shown = list.map((a, i) => `${i}: ${a.name} (${a.backend})`).join("; ") || "none";
  if (!Number.isInteger(index) || index < 0 || index >= list.length) {
    throw new Error(
      `--device ${index}: there are ${list.length} WebGPU adapters (${shown}). ${list.length ? "" : NO_ADAPTER_HINT}`,
    );
  }
  const name = list[index]!.name;
  if (list.filter((a) => a.name === name).length > 1) {
    throw new Error(
      `--device ${index}: adapters ${shown} share the name "${name}", and Dawn selects adapters by name only. Give each ` +
        "worker one GPU instead (containers: NVIDIA_VISIBLE_DEVICES=<index>) and leave --device out",
    );
  }
  return [`adapter=${name}`];
}

/**
 * Set up the WebGPU backend: returns the adapter, or a reason why not (auto falls through on it). With
 * allowSoftware false a software adapter is a reason, never a choice.
 */
export async function setUpWebgpu(opts: { allowSoftware: boolean; device?: number }): Promise<GpuAdapterInfo | string> {
  if (active) {
    if (active.info.software && !opts.allowSoftware) return softwareReason(active.info);
    return (await tf.setBackend("webgpu")) ? active.info : `setBackend("webgpu") failed`;
  }
  const d = await loadDawn();
  if (typeof d === "string") return d;
  const gpu = d.create(await flagsForDevice(opts.device));
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return `no adapter. ${NO_ADAPTER_HINT}`;
  const info = describe(adapter);
  if (info.software && !opts.allowSoftware) return softwareReason(info);
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
    requiredLimits: {
      maxBufferSize: limits.maxBufferSize,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: limits["maxComputeWorkgroupStorageSize"]!,
      maxComputeWorkgroupsPerDimension: limits["maxComputeWorkgroupsPerDimension"]!,
      maxComputeWorkgroupSizeX: limits["maxComputeWorkgroupSizeX"]!,
      maxComputeInvocationsPerWorkgroup: limits["maxComputeInvocationsPerWorkgroup"]!,
    },
  });
  const state: { info: GpuAdapterInfo; device: GpuDevice; lost?: string } = { info, device };
  void device.lost.then((l) => (state.lost = `${l.reason}: ${l.message}`));
  // The backend's own registration asks navigator.gpu for an adapter of its choosing; ours uses the device above.
  const g = globalThis as { navigator?: { gpu?: Gpu } };
  if (!g.navigator)
    Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  else if (!g.navigator.gpu) Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () => new WebGPUBackend(device as never, adapter.info as never), 0);
  if (!(await tf.setBackend("webgpu"))) return `setBackend("webgpu") failed on ${info.description}`;
  await tf.ready();
  active = state;
  return info;
}

function softwareReason(info: GpuAdapterInfo): string {
  return `only a software adapter (${info.description || info.device}, ${info.architecture}); auto never picks one (--backend webgpu forces it)`;
}

/** The adapter in use (undefined when the backend is not webgpu). */
export function webgpuAdapter(): GpuAdapterInfo | undefined {
  return active?.info;
}

/** Why the device was lost, if it was (a lost device fails every later kernel; the run ends failed). */
export function webgpuDeviceLost(): string | undefined {
  return active?.lost;
}

/** Lose the device on purpose (tests of the device-lost path). */
export function destroyWebgpuDevice(): void {
  active?.device.destroy();
}

/** Bytes one tensor may take on this adapter (tfjs keeps each tensor in one storage buffer, bound whole). */
export function webgpuTensorLimit(): number | undefined {
  return active ? Math.min(active.info.maxBufferSize, active.info.maxStorageBufferBindingSize) : undefined;
}

/**
 * Upload a freshly created tensor now and submit, instead of at its first use: model loading then streams weights
 * to the GPU one tensor at a time and never holds the model's values in host memory as a whole.
 */
export function uploadToWebgpu(t: tf.Tensor): void {
  if (!active || tf.getBackend() !== "webgpu" || process.env.LORA_LAB_WEBGPU_UPLOAD === "0") return;
  const b = tf.backend() as unknown as {
    uploadToGPU(id: object): void;
    endComputePassEncoder(): void;
    submitQueue(): void;
    commandEncoder: object | null;
  };
  b.uploadToGPU(t.dataId);
  if (b.commandEncoder) {
    // Work is recorded (a staging copy, or kernels such as weight transposes): close the open pass and run it, so
    // staging buffers are freed tensor by tensor.
    b.endComputePassEncoder();
    b.submitQueue();
  }
}
