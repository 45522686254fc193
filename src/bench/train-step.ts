// The training step `bench` times, built from the harness's own parts exactly as src/train/recipe.ts runs it:
// tf.variableGrads of continuationLoss (every position of a random B×T batch is a target, like the PyTorch peer),
// the per-step stability signals (optional, to measure their cost), gradient clipping, optimizer.step. LoRA B is
// set small-random instead of PEFT's zero so every gradient is non-zero (the compute is the same either way).
import * as tf from "@tensorflow/tfjs";
import { DEFAULT_RUN_CONFIG, optimizerDefaults, type LoraTarget } from "../config.ts";
import { buildDecoder, type Decoder } from "../models/decoder.ts";
import { loadDecoder } from "../models/load.ts";
import { randomWeightSource } from "../models/presets.ts";
import { injectLora } from "../lora/lora.ts";
import { createOptimizer } from "../optim/index.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraOptimizer, OptimizerName } from "../optim/types.ts";
import { batchFromSequences, type TokenBatch } from "../models/batch.ts";
import { continuationLoss } from "../train/loss.ts";
import { trainStep as recipeStep } from "../train/step.ts";
import { readTensor, readValues } from "../util/read.ts";
import { Rng } from "../util/rng.ts";
import type { ModelSource } from "./cases.ts";

export interface BenchModel {
  readonly decoder: Decoder;
  readonly pairs: LoraPair[];
  readonly vars: tf.Variable[];
  dispose(): void;
}

/** The decoder (random weights from the seeded Rng, or a local folder) with LoRA on `targets`. */
export function setupModel(
  source: ModelSource,
  lora: { r: number; alpha: number; targets: readonly LoraTarget[] },
  seed = 0,
): BenchModel {
  const decoder =
    source.kind === "random"
      ? buildDecoder(source.config, randomWeightSource(source.config, Rng.derive(seed, "bench-weights")))
      : loadDecoder(source.dir);
  const pairs = lora.targets.length
    ? injectLora(
        decoder,
        {
          r: lora.r,
          alpha: lora.alpha,
          targets: [...lora.targets] as [LoraTarget, ...LoraTarget[]],
          dropout: 0,
          rslora: false,
        },
        Rng.derive(seed, "lora-init"),
      )
    : [];
  const rng = Rng.derive(seed, "bench-lora-B");
  for (const p of pairs) {
    const b = new Float32Array(p.outDim * p.r);
    for (let i = 0; i < b.length; i++) b[i] = (2 * rng.uniform() - 1) * 1e-3;
    tf.tidy(() => p.B.assign(tf.tensor2d(b, [p.outDim, p.r])));
  }
  return {
    decoder,
    pairs,
    vars: pairs.flatMap((p) => [p.A, p.B]),
    dispose: () => decoder.dispose(), // the decoder owns the attached pairs
  };
}

/** B random sequences of T + 1 tokens; every one of the B·T next-token targets is scored. */
export function randomBatch(vocabSize: number, B: number, T: number, seed = 0): TokenBatch {
  const rng = Rng.derive(seed, "bench-batch");
  const rows = Array.from({ length: B }, () => {
    const seq = Array.from({ length: T + 1 }, () => rng.int(vocabSize));
    return { context: seq.slice(0, 1), continuation: seq.slice(1) };
  });
  return batchFromSequences(rows, T);
}

export function createBenchOptimizer(name: OptimizerName, pairs: readonly LoraPair[]): LoraOptimizer {
  return createOptimizer(optimizerDefaults(name, { lr: 1e-4 }), pairs);
}

/**
 * One training step as the recipe runs it (src/train/step.ts); returns the loss. With `signals` off, the stability
 * signals and the gradient clipping that depends on their global norm are skipped (the "logging off" arm of the
 * overhead case). Waits for the update itself, so the time covers the device's work on asynchronous backends.
 */
export async function trainStep(
  m: BenchModel,
  batch: TokenBatch,
  opt: LoraOptimizer,
  opts: { signals: boolean; lr?: number },
): Promise<number> {
  const lr = opts.lr ?? 1e-4;
  let loss: number;
  if (opts.signals) {
    loss = (
      await recipeStep(m.decoder, m.pairs, opt, [batch], {
        lr,
        maxGradNorm: DEFAULT_RUN_CONFIG.train.maxGradNorm,
        dropoutSeed: 0,
      })
    ).loss;
  } else {
    const { value, grads } = tf.variableGrads(() => continuationLoss(m.decoder, batch, { training: true }), m.vars);
    try {
      loss = (await readTensor(value))[0]!;
      await opt.step(grads, lr);
    } finally {
      tf.dispose([value, ...Object.values(grads)]);
    }
  }
  const last = m.pairs[m.pairs.length - 1];
  if (last) await last.B.data();
  return loss;
}

/** The forward pass alone (loss, no gradients), as eval scoring would run it. */
export async function forwardLoss(m: BenchModel, batch: TokenBatch): Promise<number> {
  return (await readValues(() => continuationLoss(m.decoder, batch)))[0]!;
}

/** Seconds of one call. */
export function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const out = f();
  return [out, (performance.now() - t0) / 1000];
}

/** Seconds of one asynchronous call. */
export async function timedAsync<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await f();
  return [out, (performance.now() - t0) / 1000];
}
