// Stable-LoRA: "Stable-LoRA: Stabilizing Feature Learning of Low-Rank Adaptation", Wu, Gao, Li, Wu (ICLR 2026),
// arXiv 2603.05204. Reference: github.com/Yize-Wu/Stable-LoRA @ fadecb5 `stable_lora.py` (torch AdamW + a shrink
// block at the top of step()); spec in docs/paper.md §3. Per step, for every module still shrinking:
// if ‖A‖_F < (numel A / numel B)·‖B‖_F (strict, pre-step values) the module stops for good; else A ← (1−λ)·A. Then
// torch AdamW on every A and B (same lr and wd for both). λ is not scaled by lr or the schedule.
// Deliberate differences: (1) the shrink is folded into AdamW's decoupled-decay multiply, A·[(1−λ)(1−lr·wd)] with the
// factor formed in float64, instead of two float32 multiplies (≤ 1 ulp apart per step; one kernel fewer);
// (2) the flags and stop steps are part of the saved state (the official code loses them on resume);
// (3) stopCondition=false is the paper's "w/o stability condition" ablation: shrink every step, never test.
import * as tf from "@tensorflow/tfjs";
import type { StableLoraConfig } from "../config.ts";
import {
  adamHyper,
  adamScalars,
  adamwUpdate,
  checkPairs,
  createAdamState,
  disposeAdamState,
  gradFor,
  momentsOf,
  restoreAdamState,
  saveAdamState,
  stepCountFrom,
} from "./adamw.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraGrads, LoraOptimizer, OptimizerState, StepStats } from "./types.ts";
import { readValues } from "../util/read.ts";
import { sumsOfSquares } from "../lora/sum-squares.ts";

interface StableJson {
  readonly t: number;
  readonly modules: readonly string[];
  readonly keepShrink: readonly boolean[];
  readonly stopStep: readonly (number | null)[];
}

export function createStableLora(cfg: StableLoraConfig, pairs: readonly LoraPair[]): LoraOptimizer {
  const name = "stable-lora";
  checkPairs(pairs, name);
  const h = adamHyper(cfg);
  const lambda = cfg.lambda;
  const state = createAdamState(pairs);
  const keepShrink = pairs.map(() => true);
  const stopStep: (number | null)[] = pairs.map(() => null);

  /** The stop test on the current (pre-step) A and B of every module still shrinking: one batched read. */
  async function testStopCondition(t: number): Promise<void> {
    const active = pairs.flatMap((_, i) => (keepShrink[i] ? [i] : []));
    if (active.length === 0) return;
    const v = await readValues(() => sumsOfSquares(active.flatMap((i) => [pairs[i]!.A, pairs[i]!.B])));
    active.forEach((i, j) => {
      const p = pairs[i]!;
      const ratio = p.A.size / p.B.size; // (r·in)/(out·r) = n/m
      if (Math.sqrt(v[2 * j]!) < ratio * Math.sqrt(v[2 * j + 1]!)) {
        keepShrink[i] = false;
        stopStep[i] = t;
      }
    });
  }

  return {
    name,
    async step(grads: LoraGrads, lr: number): Promise<StepStats> {
      state.t += 1;
      if (cfg.stopCondition) await testStopCondition(state.t);
      tf.tidy(() => {
        const s = adamScalars(state.t, lr, h);
        const shrinkDecay = (1 - lambda) * (1 - lr * h.weightDecay);
        const sShrink = shrinkDecay === 1 ? null : tf.scalar(shrinkDecay);
        pairs.forEach((p, i) => {
          adamwUpdate(p.A, gradFor(grads, p.A, name), momentsOf(state, p.A), s, keepShrink[i] ? sShrink : s.decay);
          adamwUpdate(p.B, gradFor(grads, p.B, name), momentsOf(state, p.B), s, s.decay);
        });
      });
      const modules: Record<string, Record<string, number | null>> = {};
      pairs.forEach((p, i) => (modules[p.module] = { stopStep: stopStep[i]! }));
      return { scalars: { "stable/shrinking": keepShrink.filter(Boolean).length }, modules };
    },
    getState(): OptimizerState {
      const json: StableJson = {
        t: state.t,
        modules: pairs.map((p) => p.module),
        keepShrink: [...keepShrink],
        stopStep: [...stopStep],
      };
      return { tensors: saveAdamState(state), json };
    },
    setState(s: OptimizerState): void {
      const j = s.json as StableJson;
      const modules = pairs.map((p) => p.module);
      if (
        !Array.isArray(j?.modules) ||
        j.modules.join("\n") !== modules.join("\n") ||
        j.keepShrink?.length !== pairs.length ||
        j.stopStep?.length !== pairs.length
      ) {
        throw new Error(
          `${name}.setState: the checkpoint's modules/flags do not match this optimizer's ${pairs.length} pairs (was it written for other LoRA targets?)`,
        );
      }
      restoreAdamState(state, stepCountFrom(j, name), s.tensors, name);
      j.keepShrink.forEach((k, i) => (keepShrink[i] = k));
      j.stopStep.forEach((k, i) => (stopStep[i] = k));
    },
    dispose(): void {
      disposeAdamState(state);
    },
  };
}
