// Shared by step.test.ts (cpu, wasm) and webgpu.e2e.test.ts: a step in micro-batches of unequal token counts must
// give the full batch's token-weighted mean loss, its gradients and (optionally) the same whole optimizer step.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend, type BackendName } from "../backend.ts";
import { DEFAULT_RUN_CONFIG } from "../config.ts";
import { injectLora } from "../lora/lora.ts";
import { loadRandomModel } from "../models/random-model.ts";
import { createOptimizer } from "../optim/index.ts";
import { relErr } from "../optim/testing.ts";
import { readValues } from "../util/read.ts";
import { Rng } from "../util/rng.ts";
import type { Decoder } from "../models/decoder.ts";
import type { LoraPair } from "../lora/pair.ts";
import { makeBatch, type TokenBatch } from "../models/batch.ts";
import { continuationLoss } from "./loss.ts";
import { accumulatedGrads, microBatches, trainStep } from "./step.ts";

/**
 * Four examples of equal length (so every micro-batch has the same shape: fewer WebGPU pipelines to compile) whose
 * continuations have 1, 3, 5 and 8 characters: micro-batches of 2 score 4 and 13 tokens.
 */
const EXAMPLES = [
  { context: "abcdefghijk", continuation: "l" },
  { context: "abcdefghi", continuation: "jkl" },
  { context: "abcdefg", continuation: "hijkl" },
  { context: "abcd", continuation: "efghijkl" },
];

/** Accumulated vs full-batch loss and gradients; with `wholeStep`, also one full step (signals, clipping, AdamW). */
export async function checkAccumulation(backend: BackendName, wholeStep = true): Promise<void> {
  const before = tf.memory().numTensors;
  const model = loadRandomModel("random:d=16,L=1,heads=2,kv=1,seed=3", await initBackend(backend));
  try {
    const pairs = injectLora(
      model.decoder,
      { ...DEFAULT_RUN_CONFIG.lora, r: 2, targets: ["q_proj", "v_proj"] },
      new Rng(1),
    );
    // B non-zero so that every gradient is.
    for (const p of pairs) tf.tidy(() => p.B.assign(tf.randomNormal(p.B.shape, 0, 0.1, "float32", 7)));
    const vars = pairs.flatMap((p) => [p.A, p.B]);
    const full = [makeBatch(model.tokenizer, EXAMPLES, 32)];
    const micro = microBatches(EXAMPLES, 2).map((mb) => makeBatch(model.tokenizer, mb, 32));
    const counts = micro.map((b) => b.tokens);
    assert.ok(new Set(counts).size > 1, `micro-batches must have unequal token counts: ${counts.join(", ")}`);

    const a = accumulatedGrads(model.decoder, full, vars, 0);
    const b = accumulatedGrads(model.decoder, micro, vars, 0);
    const lossA = (await a.loss.data())[0]!,
      lossB = (await b.loss.data())[0]!;
    assert.ok(
      Math.abs(lossA - lossB) <= 1e-6 * Math.abs(lossA),
      `${backend}: accumulated loss ${lossB} vs full batch ${lossA}`,
    );
    // The mean of micro-batch means differs: the test can tell the two apart.
    let meanOfMeans = 0;
    for (const mb of micro)
      meanOfMeans += (await readValues(() => continuationLoss(model.decoder, mb)))[0]! / micro.length;
    assert.ok(
      Math.abs(meanOfMeans - lossA) > 1e-3 * lossA,
      `${backend}: a mean of micro-batch means (${meanOfMeans}) should differ from ${lossA}`,
    );
    for (const v of vars) {
      const e = relErr(await b.grads[v.name]!.data(), await a.grads[v.name]!.data());
      assert.ok(e <= 1e-5, `${backend}: ${v.name}: accumulated gradient differs by ${e.toExponential(2)}`);
    }
    tf.dispose([a.loss, b.loss, ...Object.values(a.grads), ...Object.values(b.grads)]);

    if (wholeStep) await checkWholeStep(model.decoder, pairs, full, micro, backend);
  } finally {
    model.decoder.dispose();
  }
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
}

/** One whole step (signals, clipping, AdamW) from the same start, full batch vs micro-batches: the same update. */
async function checkWholeStep(
  decoder: Decoder,
  pairs: LoraPair[],
  full: TokenBatch[],
  micro: TokenBatch[],
  backend: string,
): Promise<void> {
  const vars = pairs.flatMap((p) => [p.A, p.B]);
  const start = await Promise.all(vars.map((v) => v.data()));
  const opt = createOptimizer({ ...DEFAULT_RUN_CONFIG.optimizer, lr: 1e-2 }, pairs);
  const opts = { lr: 1e-2, maxGradNorm: 1, dropoutSeed: 0 };
  const rFull = await trainStep(decoder, pairs, opt, full, opts);
  const afterFull = await Promise.all(vars.map((v) => v.data()));
  vars.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(start[i]!, v.shape))));
  const opt2 = createOptimizer({ ...DEFAULT_RUN_CONFIG.optimizer, lr: 1e-2 }, pairs);
  const rMicro = await trainStep(decoder, pairs, opt2, micro, opts);
  assert.ok(Math.abs(rFull.loss - rMicro.loss) <= 1e-6 * rFull.loss);
  assert.ok(Math.abs(rFull.signals.gradNorm - rMicro.signals.gradNorm) <= 1e-5 * rFull.signals.gradNorm);
  for (const [i, v] of vars.entries()) {
    const e = relErr(await v.data(), afterFull[i]!);
    assert.ok(e <= 1e-5, `${backend}: ${v.name} after the step differs by ${e.toExponential(2)}`);
  }
  opt.dispose();
  opt2.dispose();
}
