// Per-module stability signals logged every step (docs/paper.md §2): ‖A‖_F, ‖B‖_F, the normalised ratio
// (‖A‖/in)/(‖B‖/out) that Stable-LoRA's stop condition compares with 1, and gradient norms of A and B.
// All norms of all modules are computed in one tidy and read back in a single asynchronous read, so this stays cheap.
import * as tf from "@tensorflow/tfjs";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraGrads } from "../optim/types.ts";
import { readValues } from "../util/read.ts";
import type { ModuleSignals } from "../results.ts";
import { fusedKernelsActive, fusedScaleAll } from "../wasm-fused.ts";
import { sumsOfSquares } from "../lora/sum-squares.ts";

/** ModuleSignals before JSON: normRatio is +Infinity while B = 0 (metrics.jsonl stores null). */
export type LiveModuleSignals = Omit<ModuleSignals, "normRatio" | "stopStep"> & { normRatio: number };

export interface StepSignals {
  modules: Record<string, LiveModuleSignals>;
  /** Global L2 norm of all LoRA gradients (before clipping). */
  gradNorm: number;
  gradNormA: number;
  gradNormB: number;
  /** Means over modules. */
  normA: number;
  normB: number;
  /** Number of gradient tensors with a non-finite norm. */
  nonFinite: number;
}

/** The [4·pairs] squared norms stepSignals reads (‖A‖², ‖B‖², ‖gA‖², ‖gB‖² per pair); call inside a tidy. */
export function signalTensor(pairs: readonly LoraPair[], grads: LoraGrads): tf.Tensor1D {
  const parts: tf.Tensor[] = [];
  for (const p of pairs) {
    const gA = grads[p.A.name],
      gB = grads[p.B.name];
    if (!gA || !gB) throw new Error(`no gradient for ${p.module} (${!gA ? p.A.name : p.B.name})`);
    parts.push(p.A, p.B, gA, gB);
  }
  return sumsOfSquares(parts);
}

/** The step's signals in one asynchronous read. */
export async function stepSignals(pairs: readonly LoraPair[], grads: LoraGrads): Promise<StepSignals> {
  return signalsFromValues(pairs, await readValues(() => signalTensor(pairs, grads)));
}

/** StepSignals from signalTensor's values (read by the caller, possibly batched with other scalars). */
export function signalsFromValues(pairs: readonly LoraPair[], values: Float32Array): StepSignals {
  const modules: Record<string, LiveModuleSignals> = {};
  let sA = 0,
    sB = 0,
    gA2 = 0,
    gB2 = 0,
    nonFinite = 0;
  pairs.forEach((p, i) => {
    const [a2, b2, ga2, gb2] = [values[4 * i]!, values[4 * i + 1]!, values[4 * i + 2]!, values[4 * i + 3]!];
    const normA = Math.sqrt(a2),
      normB = Math.sqrt(b2);
    if (!Number.isFinite(ga2)) nonFinite++;
    if (!Number.isFinite(gb2)) nonFinite++;
    modules[p.module] = {
      normA,
      normB,
      normRatio: normB > 0 ? normA / p.inDim / (normB / p.outDim) : Number.POSITIVE_INFINITY,
      gradNormA: Math.sqrt(ga2),
      gradNormB: Math.sqrt(gb2),
    };
    sA += normA;
    sB += normB;
    gA2 += ga2;
    gB2 += gb2;
  });
  return {
    modules,
    gradNorm: Math.sqrt(gA2 + gB2),
    gradNormA: Math.sqrt(gA2),
    gradNormB: Math.sqrt(gB2),
    normA: sA / pairs.length,
    normB: sB / pairs.length,
    nonFinite,
  };
}

/**
 * torch.nn.utils.clip_grad_norm_: scale every gradient by min(1, maxNorm / (total + 1e-6)). Returns new tensors
 * (the caller's tidy owns them) and the coefficient applied (1 = untouched).
 */
export function clipGradients(
  grads: LoraGrads,
  totalNorm: number,
  maxNorm: number,
): { grads: LoraGrads; coef: number } {
  if (!(maxNorm > 0)) return { grads, coef: 1 };
  const coef = Math.min(1, maxNorm / (totalNorm + 1e-6));
  if (coef >= 1) return { grads, coef: 1 };
  const out: LoraGrads = {};
  const entries = Object.entries(grads);
  if (fusedKernelsActive()) {
    // one kernel on wasm with the native addon (src/wasm-fused.ts), the same products as tf.mul
    const scaled = fusedScaleAll(
      entries.map(([, g]) => g),
      coef,
    );
    entries.forEach(([k], i) => (out[k] = scaled[i]!));
  } else for (const [k, g] of entries) out[k] = tf.mul(g, coef);
  return { grads: out, coef };
}

/** JSON can't hold Infinity: the normalised ratio of a module with B = 0 is logged as null. */
export function jsonSafe(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
