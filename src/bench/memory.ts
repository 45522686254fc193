// Memory model of a LoRA training step, to judge the measured peak RSS (docs/engine.md §3: peak ≤ 1.5× fp32 weights +
// activations). Weights are what the decoder holds: every frozen tensor of the checkpoint in fp32, once (a tied
// lm_head is the embedding itself; src/models/linear.ts frozenLinearT uses it in place). Activations are an estimate of what autodiff keeps for the
// backward, counted per token and layer from the decoder's ops (below); it is an estimate, not a measurement.
// Checked against the live wasm-heap bytes of one Qwen2-0.5B-shaped step at 1×128 (with src/tape-release.ts and
// src/wasm-zero-copy.ts): 564 MiB estimated, ~770 MiB measured (the tape also keeps x² of each RMSNorm, SiLU(gate),
// the pre-mask scores, RoPE inputs), so the estimate is on the low side: the ratio it gives is not flattered.
import type { ModelConfig } from "../models/model-config.ts";
import { parameterCount } from "../models/model-config.ts";
import { lmHeadChunkRows } from "../models/batch.ts";
import { KEEP_DIFF_FLOATS } from "../train/loss.ts";

/** Bytes of fp32 weights the decoder holds (the checkpoint's tensors). */
export function decoderWeightBytes(c: ModelConfig): number {
  return 4 * parameterCount(c);
}

/**
 * Estimated bytes saved for the backward of one step over B×T tokens with LoRA rank r on `nTargets` of the seven
 * projections. Per token and layer (floats): 2 RMSNorm inputs + outputs (4d), q/k/v before and after RoPE
 * (2·(H + 2·KV)·hd), attention probabilities and scores (2·H·T), attention output (H·hd), gate, up, SiLU(gate) and
 * the product (4·ffn), residuals (2d), LoRA inputs' mids (2·r per adapted module). Plus the final norm (2d) and one
 * lm_head chunk of logits (3·chunk·V: logits, softmax, gradient), and softmax − onehot of all N rows (N·V) when
 * the loss keeps it for the backward (src/train/loss.ts, up to KEEP_DIFF_FLOATS).
 */
export function activationBytesEstimate(c: ModelConfig, B: number, T: number, r: number, nTargets: number): number {
  const N = B * T;
  const qkv = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
  const perTokenLayer =
    4 * c.hiddenSize +
    2 * qkv +
    2 * c.numHeads * T +
    c.numHeads * c.headDim +
    4 * c.intermediateSize +
    2 * c.hiddenSize +
    2 * r * nTargets;
  const chunk = Math.min(N, lmHeadChunkRows(c.vocabSize));
  const keptDiffs = N * c.vocabSize <= KEEP_DIFF_FLOATS ? N * c.vocabSize : 0;
  return 4 * (N * c.numLayers * perTokenLayer + N * 2 * c.hiddenSize + 3 * chunk * c.vocabSize + keptDiffs);
}
