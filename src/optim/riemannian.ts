// Riemannian preconditioned LoRA ("scaled AdamW"): "Riemannian Preconditioned LoRA for Fine-Tuning Foundation
// Models", Zhang & Pilanci (ICML 2024), arXiv 2402.02347. Reference: pilancilab/Riemannian_Preconditioned_LoRA
// (AdamWr) and PEFT `optimizers/riemannian.py`; spec in docs/optimizers.md §4. Per pair, before the
// AdamW moments:  g̃_A = (BᵀB + δI)⁺ · G_A,   g̃_B = G_B · (AAᵀ + δI)⁺,  both from the PRE-step A and B (Jacobi),
// then torch AdamW (decoupled decay before the moments, bias correction) with the same lr for A and B.
// This is PEFT's semantics. Deliberate differences from the official Mistral AdamWr: it preconditions B with the
// already-updated A (Gauss–Seidel), has no bias correction by default, and decays after the step; we follow PEFT.
// Ill-conditioning (the fallback): the r×r inverse is a pseudo-inverse in float64, as torch.linalg.pinv(hermitian,
// rtol = r·eps_f32) on PEFT's fp32 matrix: eigenvalues ≤ rtol·max are treated as zero (that direction gets no update
// instead of a 1/δ blow-up; e.g. B = 0 with δ = 0). Each such cut counts as one fallback in the stats.
import * as tf from "@tensorflow/tfjs";
import type { RiemannianConfig } from "../config.ts";
import {
  adamHyper,
  adamScalars,
  adamStateMethods,
  adamwUpdate,
  checkPairs,
  createAdamState,
  gradFor,
  momentsOf,
} from "./adamw.ts";
import { pinvSym } from "./linalg.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraGrads, LoraOptimizer, StepStats } from "./types.ts";
import { readValues } from "../util/read.ts";

const EPS_F32 = 2 ** -23;
/** Reported condition numbers are capped here (a singular matrix reports this value). */
export const COND_CAP = 1e16;

export interface RiemannianStats {
  /** max over pairs of κ(BᵀB + δI) and κ(AAᵀ + δI). */
  readonly condMax: number;
  /** Number of r×r matrices whose pseudo-inverse cut at least one eigenvalue this step. */
  readonly fallbacks: number;
}

/** Grams of all pairs in one device→host read: pair i contributes BᵀB then AAᵀ, each [r, r]. */
export function readGrams(pairs: readonly LoraPair[]): Promise<Float32Array> {
  return readValues(() =>
    tf.concat(
      pairs.flatMap((p) => [tf.matMul(tf.transpose(p.B), p.B), tf.matMul(p.A, tf.transpose(p.A))]),
      0,
    ),
  );
}

/**
 * The preconditioned gradients of every pair from the Grams readGrams read (call inside tf.tidy).
 * Returns [g̃_A [r, in], g̃_B [out, r]] per pair.
 */
export function scaledGradients(
  pairs: readonly LoraPair[],
  grads: LoraGrads,
  g: Float32Array,
  delta: number,
  who = "riemannian",
): { scaled: [tf.Tensor, tf.Tensor][]; stats: RiemannianStats } {
  let off = 0;
  let condMax = 0;
  let fallbacks = 0;
  const scaled = pairs.map((p): [tf.Tensor, tf.Tensor] => {
    const r = p.r;
    const rtol = r * EPS_F32;
    const pre: Float32Array[] = [];
    for (let k = 0; k < 2; k++) {
      const M = Float64Array.from(g.subarray(off, off + r * r));
      off += r * r;
      for (let i = 0; i < r; i++) M[i * r + i]! += delta;
      const { inv, cut, cond } = pinvSym(M, r, rtol);
      condMax = Math.max(condMax, Math.min(cond, COND_CAP));
      if (cut > 0) fallbacks++;
      pre.push(Float32Array.from(inv));
    }
    const PB = tf.tensor2d(pre[0]!, [r, r]); // (BᵀB + δI)⁺
    const PA = tf.tensor2d(pre[1]!, [r, r]); // (AAᵀ + δI)⁺
    return [tf.matMul(PB, gradFor(grads, p.A, who)), tf.matMul(gradFor(grads, p.B, who), PA)];
  });
  return { scaled, stats: { condMax, fallbacks } };
}

export function createRiemannian(cfg: RiemannianConfig, pairs: readonly LoraPair[]): LoraOptimizer {
  const name = "riemannian";
  checkPairs(pairs, name);
  const h = adamHyper(cfg);
  const state = createAdamState(pairs);
  return {
    name,
    async step(grads: LoraGrads, lr: number): Promise<StepStats> {
      state.t += 1;
      let stats: RiemannianStats = { condMax: 0, fallbacks: 0 };
      const grams = await readGrams(pairs);
      tf.tidy(() => {
        const pre = scaledGradients(pairs, grads, grams, cfg.delta, name);
        const s = adamScalars(state.t, lr, h);
        pairs.forEach((p, i) => {
          adamwUpdate(p.A, pre.scaled[i]![0], momentsOf(state, p.A), s, s.decay);
          adamwUpdate(p.B, pre.scaled[i]![1], momentsOf(state, p.B), s, s.decay);
        });
        stats = pre.stats;
      });
      return { scalars: { "riemannian/cond_max": stats.condMax, "riemannian/fallbacks": stats.fallbacks } };
    },
    ...adamStateMethods(state, name),
  };
}
