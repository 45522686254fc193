// Micro-benchmark of one optimizer alone: median wall time of step() on fixed random gradients (no model, no
// backward), for `run.ts bench`'s optimizer-overhead table. Reads one parameter value after each step so that
// asynchronous backends (tensorflow GPU) are timed to completion.
import * as tf from "@tensorflow/tfjs";
import { optimizerDefaults, type AdamLikeConfig, type OptimizerConfig } from "../config.ts";
import { createOptimizer } from "./index.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { OptimizerName } from "./types.ts";
import { median } from "../util/stats.ts";

export interface BenchResult {
  readonly name: OptimizerName;
  readonly medianMs: number;
  readonly samplesMs: readonly number[];
}

/**
 * Median ms of `optimizer.step` over `iters` timed steps (after 2 warm-up steps) on `pairs`. The pairs' variables are
 * restored afterwards; gradients are seeded normal noise of the parameters' shapes, scaled like real LoRA grads.
 */
export async function benchOptimizerStep(
  name: OptimizerName,
  pairs: readonly LoraPair[],
  iters: number,
  overrides: Partial<AdamLikeConfig> = {},
): Promise<BenchResult> {
  const cfg: OptimizerConfig = optimizerDefaults(name, overrides);
  const saved = pairs.map((p) => [tf.clone(p.A), tf.clone(p.B)] as const);
  const grads: tf.NamedTensorMap = {};
  pairs.forEach((p, i) => {
    grads[p.A.name] = tf.randomNormal(p.A.shape, 0, 1e-3, "float32", 1000 + 2 * i);
    grads[p.B.name] = tf.randomNormal(p.B.shape, 0, 1e-3, "float32", 1001 + 2 * i);
  });
  const opt = createOptimizer(cfg, pairs);
  const samplesMs: number[] = [];
  try {
    for (let i = 0; i < iters + 2; i++) {
      const t0 = performance.now();
      await opt.step(grads, cfg.lr);
      await pairs[pairs.length - 1]!.B.data();
      if (i >= 2) samplesMs.push(performance.now() - t0);
    }
  } finally {
    opt.dispose();
    tf.dispose(Object.values(grads));
    pairs.forEach((p, i) => {
      p.A.assign(saved[i]![0]);
      p.B.assign(saved[i]![1]);
    });
    tf.dispose(saved.flat());
  }
  return { name, medianMs: median(samplesMs), samplesMs };
}
