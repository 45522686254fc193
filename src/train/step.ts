// One optimizer step of the recipe, and the stability probe around it. A step may run in micro-batches (gradient
// accumulation): each micro-batch's loss is its summed token cross-entropy divided by the token count of the WHOLE
// batch, so the accumulated loss and gradients are the token-weighted mean over the whole batch, as one full-batch
// step computes them (not a mean of micro-batch means). The loss and every stability norm come back to the host in
// one asynchronous read per step; nothing here reads synchronously (WebGPU cannot: docs/webgpu.md).
import * as tf from "@tensorflow/tfjs";
import type { Decoder } from "../models/decoder.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraGrads, LoraOptimizer, StepStats } from "../optim/types.ts";
import { clipGradients, signalTensor, signalsFromValues, type StepSignals } from "../stability/signals.ts";
import { deltaTerms, type FactorSnapshot } from "../stability/delta.ts";
import type { DeltaSignals } from "../results.ts";
import { readValues } from "../util/read.ts";
import { type TokenBatch } from "../models/batch.ts";
import { continuationLoss } from "./loss.ts";

export interface StepResult {
  /** Token-weighted mean cross-entropy over the whole batch. */
  loss: number;
  signals: StepSignals;
  /** The optimizer's stats; undefined when the step diverged (no update was made). */
  stats?: StepStats;
  /** True when the loss or a gradient is not finite: the factors were left untouched. */
  diverged: boolean;
}

export interface StepOptions {
  lr: number;
  maxGradNorm: number;
  /** Dropout seed of the step (micro-batch k > 0 derives its own from it). */
  dropoutSeed: number;
}

/** Split a step's examples into micro-batches of `size` (null = one batch). */
export function microBatches<T>(examples: readonly T[], size: number | null): T[][] {
  if (size === null || size >= examples.length) return [[...examples]];
  const out: T[][] = [];
  for (let i = 0; i < examples.length; i += size) out.push(examples.slice(i, i + size));
  return out;
}

/**
 * Loss and LoRA gradients accumulated over the micro-batches (kept tensors; the caller disposes them). With one
 * micro-batch this is exactly tf.variableGrads of continuationLoss (no rescaling: bit-identical to no accumulation).
 */
export function accumulatedGrads(
  decoder: Decoder,
  batches: readonly TokenBatch[],
  vars: tf.Variable[],
  dropoutSeed: number,
): { loss: tf.Scalar; grads: LoraGrads } {
  const total = batches.reduce((s, b) => s + b.tokens, 0);
  let loss: tf.Scalar | undefined;
  let grads: LoraGrads | undefined;
  batches.forEach((batch, k) => {
    const weight = batches.length === 1 ? 1 : batch.tokens / total;
    const seed = k === 0 ? dropoutSeed : (dropoutSeed ^ Math.imul(k, 0x9e3779b1)) >>> 0;
    const r = tf.variableGrads(() => {
      const l = continuationLoss(decoder, batch, { training: true, dropoutSeed: seed });
      return weight === 1 ? l : tf.mul(l, weight);
    }, vars);
    if (!loss || !grads) {
      loss = r.value;
      grads = r.grads;
      return;
    }
    const prevLoss: tf.Scalar = loss;
    loss = tf.add(prevLoss, r.value) as tf.Scalar;
    tf.dispose([prevLoss, r.value]);
    for (const [name, g] of Object.entries(r.grads)) {
      const prev = grads[name]!;
      grads[name] = tf.add(prev, g);
      tf.dispose([prev, g]);
    }
  });
  return { loss: loss!, grads: grads! };
}

/**
 * One optimizer step: accumulated gradients → one read of the loss and the stability norms → (unless non-finite)
 * clipping and the optimizer's update. Leaves no tensors behind.
 */
export async function trainStep(
  decoder: Decoder,
  pairs: readonly LoraPair[],
  optimizer: LoraOptimizer,
  batches: readonly TokenBatch[],
  opts: StepOptions,
): Promise<StepResult> {
  const vars = pairs.flatMap((p) => [p.A, p.B]);
  const { loss, grads } = accumulatedGrads(decoder, batches, vars, opts.dropoutSeed);
  const owned = new Set<tf.Tensor>([loss, ...Object.values(grads)]);
  try {
    const values = await readValues(() => tf.concat([tf.reshape(loss, [1]), signalTensor(pairs, grads)], 0));
    const lossValue = values[0]!;
    const signals = signalsFromValues(pairs, values.subarray(1));
    if (!Number.isFinite(lossValue) || signals.nonFinite > 0) return { loss: lossValue, signals, diverged: true };
    const clipped = tf.tidy(() => clipGradients(grads, signals.gradNorm, opts.maxGradNorm).grads);
    for (const g of Object.values(clipped)) owned.add(g);
    const stats = await optimizer.step(clipped, opts.lr);
    return { loss: lossValue, signals, stats, diverged: false };
  } finally {
    tf.dispose([...owned]);
  }
}

/** What a probe step holds between before and after the update: module inputs Z and the pre-step factors. */
export interface Probe {
  readonly Z: Map<string, tf.Tensor2D>;
  readonly before: Map<string, FactorSnapshot>;
}

/** The module inputs Z on the fixed probe batch and copies of the factors before the step. */
export function captureProbe(decoder: Decoder, pairs: readonly LoraPair[], probeBatch: TokenBatch): Probe {
  const Z = new Map<string, tf.Tensor2D>();
  tf.tidy(() => {
    decoder.hidden(probeBatch.idsTensor(), { hooks: { onLoraInput: (m, x) => void Z.set(m, tf.keep(x)) } });
  });
  const before = new Map(
    pairs.map((p) => [p.module, { A: tf.clone(p.A) as tf.Tensor2D, B: tf.clone(p.B) as tf.Tensor2D }]),
  );
  return { Z, before };
}

/** δ1/δ2/δ3 of the step just taken (pass `null` after a diverged step); frees the probe. */
export async function finishProbe(
  probe: Probe,
  pairs: readonly LoraPair[],
  measure: boolean,
): Promise<Record<string, DeltaSignals> | undefined> {
  try {
    if (!measure) return undefined;
    return await deltaTerms(
      pairs.map((p) => ({
        module: p.module,
        before: probe.before.get(p.module)!,
        after: { A: p.A, B: p.B },
        Z: probe.Z.get(p.module)!,
        scaling: p.scaling,
      })),
    );
  } finally {
    for (const s of probe.before.values()) tf.dispose([s.A, s.B]);
    tf.dispose([...probe.Z.values()]);
  }
}
