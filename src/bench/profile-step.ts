// Where the time of one LoRA training step goes, per tfjs kernel: tf.profile over one step of a bench case (after
// warm-up), kernel times summed by kernel name and by matmul shape. For performance work (which op to rewrite so
// XNNPACK stays fast: docs/engine.md §2). Per-kernel times on wasm are wall-clock of synchronous kernels.
// Usage: node --import tsx src/bench/profile-step.ts [case=llama-4x256] [backend=wasm] [top=25]
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendChoice } from "../backend.ts";
import { benchCases } from "./cases.ts";
import { modelConfigOf } from "./measure.ts";
import { createBenchOptimizer, randomBatch, setupModel, timedAsync, trainStep } from "./train-step.ts";

export interface KernelTotal {
  name: string;
  ms: number;
  calls: number;
}

/** Kernel time of one step, grouped by `key` (kernel name, or name + input shapes for matmuls). */
export async function profileStep(
  caseName: string,
  backend: BackendChoice,
): Promise<{ stepMs: number; kernelMs: number; byKernel: KernelTotal[]; byMatMul: KernelTotal[] }> {
  await initBackend(backend);
  const c = benchCases(path.resolve(import.meta.dirname, "../../../shared")).find((x) => x.name === caseName);
  if (!c) throw new Error(`profile-step: unknown case ${caseName}`);
  const cfg = modelConfigOf(c);
  const m = setupModel(c.model, c);
  const batch = randomBatch(cfg.vocabSize, c.batches[0]!, c.seqLen);
  const opt = createBenchOptimizer("adamw", m.pairs);
  for (let i = 0; i < 2; i++) await trainStep(m, batch, opt, { signals: true });
  let stepMs = 0;
  const info = await tf.profile(async () => {
    stepMs = 1000 * (await timedAsync(() => trainStep(m, batch, opt, { signals: true })))[1];
  });
  opt.dispose();
  m.dispose();
  const group = (key: (k: (typeof info.kernels)[number]) => string | null) => {
    const acc = new Map<string, KernelTotal>();
    for (const k of info.kernels) {
      const name = key(k);
      if (name === null) continue;
      const t = acc.get(name) ?? { name, ms: 0, calls: 0 };
      t.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      t.calls++;
      acc.set(name, t);
    }
    return [...acc.values()].sort((a, b) => b.ms - a.ms);
  };
  const byKernel = group((k) => k.name);
  const byMatMul = group((k) =>
    k.name === "BatchMatMul" ? `${k.inputShapes.map((s) => `[${s?.join(",")}]`).join("·")}` : null,
  );
  return { stepMs, kernelMs: byKernel.reduce((s, k) => s + k.ms, 0), byKernel, byMatMul };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [name = "llama-4x256", backend = "wasm", top = "25"] = process.argv.slice(2);
  const r = await profileStep(name, backend as BackendChoice);
  console.log(`step under tf.profile: ${r.stepMs.toFixed(0)} ms; kernels sum to ${r.kernelMs.toFixed(0)} ms`);
  console.log("\nby kernel:");
  for (const k of r.byKernel.slice(0, Number(top)))
    console.log(
      `  ${k.name.padEnd(22)} ${k.ms.toFixed(1).padStart(8)} ms  ${String(k.calls).padStart(5)} calls  ${((100 * k.ms) / r.kernelMs).toFixed(1)} %`,
    );
  console.log("\nBatchMatMul by input shapes:");
  for (const k of r.byMatMul.slice(0, Number(top)))
    console.log(`  ${k.name.padEnd(40)} ${k.ms.toFixed(1).padStart(8)} ms  ${String(k.calls).padStart(4)} calls`);
}
