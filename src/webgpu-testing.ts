// Tests on the webgpu backend run on SwiftShader, the CPU Vulkan in Debian's chromium package (docs/webgpu.md):
// this points the Vulkan loader at it (unless VK_ICD_FILENAMES is already set) and selects webgpu. Returns why the
// tests must skip, in one line, when no adapter can be found.
import * as fs from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import { SWIFTSHADER_ICD } from "./webgpu.ts";

/**
 * Point the Vulkan loader at SwiftShader for this process (before Dawn's first instance), unless VK_ICD_FILENAMES is
 * set or LORA_LAB_TEST_ADAPTER=system (a GPU machine: tools/gpu/check.sh runs these tests on the real adapter).
 */
export function useSwiftShaderIcd(): void {
  if (process.env.LORA_LAB_TEST_ADAPTER === "system" || process.env.VK_ICD_FILENAMES) return;
  if (fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

/** Select webgpu on SwiftShader (or the adapter VK_ICD_FILENAMES names); a skip reason when there is none. */
export async function useWebgpu(): Promise<string | undefined> {
  useSwiftShaderIcd();
  try {
    const b = await initBackend("webgpu");
    // On SwiftShader, tfjs' reduce and split-K matmul programs (auto-selected for small outputs) take up to seconds
    // per call; the packed program takes milliseconds (docs/webgpu.md). On a software adapter the tests pin the
    // packed program, which real GPUs also run for most matmuls; on a hardware adapter nothing is pinned.
    if (b.gpu?.software) tf.env().set("WEBGPU_MATMUL_PROGRAM_TYPE", 3);
    return undefined;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return skipOrFail(
      `no WebGPU adapter here (install Debian's chromium and libvulkan1 for SwiftShader): ${msg.slice(0, 160)}`,
    );
  }
}

/** A skip reason, or (with LORA_LAB_REQUIRE_WEBGPU=1, as CI sets it) an error: CI must not skip these tests. */
export function skipOrFail(reason: string): string {
  if (process.env.LORA_LAB_REQUIRE_WEBGPU === "1") throw new Error(`LORA_LAB_REQUIRE_WEBGPU=1 but ${reason}`);
  return reason;
}
