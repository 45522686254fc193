// The LoRA training loss on a token batch (src/models/batch.ts): mean cross-entropy over every
// continuation token of the batch (token-weighted, no label smoothing; docs/evaluation.md §1).
// Logits are never materialised for all B·T positions: the decoder's last layer runs past attention on the
// continuation rows only (Decoder.hiddenAt), and lm_head + cross-entropy run fused in row chunks whose backward
// recomputes the logits (Qwen's 151,936-token vocabulary would otherwise take 1.2 GB for 8×256 tokens). No tf.gather of target
// log-probs (its gradient, UnsortedSegmentSum, is missing on wasm): targets enter through oneHot products.
import * as tf from "@tensorflow/tfjs";
import type { Decoder, ForwardOptions } from "../models/decoder.ts";
import { product, type GradArgs } from "../models/linear.ts";
import { continuationRows, lmHeadChunkRows, type TokenBatch } from "../models/batch.ts";

/** Mean cross-entropy over the batch's continuation tokens, differentiable w.r.t. the attached LoRA variables. */
export function continuationLoss(decoder: Decoder, batch: TokenBatch, opts: ForwardOptions = {}): tf.Scalar {
  const { rows, targets } = continuationRows(batch);
  if (rows.length === 0) throw new Error("continuationLoss: the batch has no continuation tokens (mask is all zero)");
  return tf.tidy(() => {
    const hSel = decoder.hiddenAt(batch.idsTensor(), rows, opts); // [M, d]
    return lmHeadCrossEntropy(hSel, decoder.lmHead, Int32Array.from(targets));
  });
}

/** softmax − onehot of every chunk is kept from the forward for the backward up to this many floats (256 MB). */
export const KEEP_DIFF_FLOATS = 2 ** 26;

/**
 * mean_m CE(h[m]·Wᵀ, targets[m]) for h [M, d] and the frozen lm_head weight W [V, d], computed in row chunks.
 * Gradient for h only: dh = (softmax(h·Wᵀ) − onehot(targets))·W / M, recomputed chunk by chunk.
 * logsumexp is taken as max − log(max(softmax)) (the softmax at the argmax is 1/Σexp(x − max) ≥ 1/V, so nothing
 * underflows): tfjs' logSumExp runs a scalar exp over all [m, V] logits, ~5× the cost of the fused softmax kernel.
 */
export function lmHeadCrossEntropy(
  h: tf.Tensor2D,
  lmHead: { weight: tf.Tensor2D },
  targets: Int32Array,
  chunkRows = lmHeadChunkRows(lmHead.weight.shape[0]),
  keepDiffFloats = KEEP_DIFF_FLOATS,
): tf.Scalar {
  const [M, d] = h.shape;
  const V = lmHead.weight.shape[0];
  if (targets.length !== M) throw new Error(`lmHeadCrossEntropy: ${targets.length} targets for ${M} rows`);
  const chunks: [number, number][] = [];
  for (let s = 0; s < M; s += chunkRows) chunks.push([s, Math.min(M, s + chunkRows)]);
  const rowsOf = (x: tf.Tensor2D, s: number, e: number) => (chunks.length === 1 ? x : tf.slice(x, [s, 0], [e - s, d]));
  // The [m, V] chunk tensors are ~64 MB each on Qwen's vocabulary, so every one is disposed as soon as it is used
  // (a tidy would keep all of them to its end): at most three are alive at once. The values are unchanged.
  const oneHotOf = (s: number, e: number) =>
    tf.tidy(() => tf.oneHot(tf.tensor1d(targets.subarray(s, e), "int32"), V).toFloat()); // [m, V]
  // When all chunks' softmax − onehot fit in keepDiffFloats the forward keeps them for the backward (the same
  // values the backward would recompute: one lm_head product less per step); larger ones are recomputed.
  const keepDiffs = M * V <= keepDiffFloats;
  const f = tf.customGrad((...args: GradArgs) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    let total: tf.Tensor = tf.scalar(0);
    const diffs: tf.Tensor[] = [];
    for (const [s, e] of chunks) {
      const [next, diff] = tf.tidy(() => {
        const logits = product(rowsOf(x, s, e), lmHead.weight, false, true); // [m, V]
        const maxLogit = tf.max(logits, 1); // [m]
        const probs = tf.softmax(logits); // [m, V]
        const maxProb = tf.max(probs, 1); // [m]
        const oneHot = oneHotOf(s, e);
        const kept = keepDiffs ? [tf.sub(probs, oneHot)] : []; // [m, V]
        probs.dispose();
        const logSumExp = tf.sub(maxLogit, tf.log(maxProb)); // [m]
        const picked = tf.mul(logits, oneHot); // [m, V]
        logits.dispose();
        oneHot.dispose();
        const nll = tf.sub(logSumExp, tf.sum(picked, 1)); // [m]
        return [tf.add(total, tf.sum(nll)), ...kept];
      });
      total.dispose();
      total = next!;
      if (diff) diffs.push(diff);
    }
    save([x, ...diffs]); // (nothing is saved, and the tidy frees the diffs, when no gradient is taped)
    return {
      value: tf.div(total, M),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const xs = saved[0] as tf.Tensor2D;
        const scale = tf.div(dy, M);
        const parts = chunks.map(([s, e], i) =>
          tf.tidy(() => {
            if (saved.length > 1) return tf.matMul(tf.mul(saved[1 + i]!, scale), lmHead.weight); // [m, d]
            const logits = product(rowsOf(xs, s, e), lmHead.weight, false, true); // [m, V]
            const probs = tf.softmax(logits); // [m, V]
            logits.dispose();
            const oneHot = oneHotOf(s, e);
            const diff = tf.sub(probs, oneHot); // [m, V]
            probs.dispose();
            oneHot.dispose();
            const g = tf.mul(diff, scale); // [m, V]
            diff.dispose();
            return tf.matMul(g, lmHead.weight); // [m, d]
          }),
        );
        return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
      },
    };
  });
  return f(h) as tf.Scalar;
}
