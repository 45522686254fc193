// Training batches of (context, continuation) pairs and the LoRA training loss: mean cross-entropy over every
// continuation token of the batch (token-weighted, no label smoothing; docs/evaluation.md §1).
// Logits are never materialised for all B·T positions: the continuation rows of the hidden states are selected with
// a one-hot product, and lm_head + cross-entropy run fused in row chunks whose backward recomputes the logits
// (Qwen's 151,936-token vocabulary would otherwise take 1.2 GB for 8×256 tokens). No tf.gather of target
// log-probs (its gradient, UnsortedSegmentSum, is missing on wasm): targets enter through oneHot products.
import * as tf from "@tensorflow/tfjs";
import { selectRows, type Decoder, type ForwardOptions } from "../models/decoder.ts";
import { product, type GradArgs } from "../models/linear.ts";
import type { Tokenizer } from "../models/tokenizer.ts";

/** Right-padded token batch; row b, position t is at index b·T + t. */
export interface TokenBatch {
  readonly B: number;
  readonly T: number;
  /** Input ids [B·T] (pad 0). */
  readonly ids: Int32Array;
  /** Next-token targets [B·T]. */
  readonly targets: Int32Array;
  /** 1 where targets[i] is a continuation token to score/train on, else 0. [B·T] */
  readonly mask: Float32Array;
  /** Number of scored tokens (Σ mask). */
  readonly tokens: number;
  /** ids as an int32 tensor [B, T] (the caller disposes it). */
  idsTensor(): tf.Tensor2D;
}

/**
 * Token ids of one example as lm-evaluation-harness builds them: trailing whitespace of the context moves to the
 * continuation; ids = encode(context, special tokens on) ++ encode(continuation, special tokens off); an empty
 * context becomes [BOS] (or [EOS] when the tokenizer has no BOS), lm-eval's prefix token.
 */
export function encodePair(tokenizer: Tokenizer, context: string, continuation: string): { context: number[]; continuation: number[] } {
  const trimmed = context.replace(/\s+$/, "");
  const moved = context.slice(trimmed.length);
  let ctx = trimmed.length > 0 ? tokenizer.encode(trimmed, { addSpecialTokens: true }) : [];
  if (ctx.length === 0) {
    const prefix = tokenizer.bosTokenId ?? tokenizer.eosTokenId;
    if (prefix === null) throw new Error("empty context and the tokenizer has neither a BOS nor an EOS token to condition on");
    ctx = [prefix];
  }
  const cont = tokenizer.encode(moved + continuation, { addSpecialTokens: false });
  if (cont.length === 0) throw new Error(`continuation ${JSON.stringify(continuation)} encodes to no tokens; there is nothing to score or train on`);
  return { context: ctx, continuation: cont };
}

/**
 * Batch sequences (context ids ++ continuation ids). A sequence longer than maxSeqLen + 1 is cut from the left
 * (lm-eval: keep the last maxSeqLen + 1 tokens), so the continuation is kept whole whenever it fits.
 */
export function batchFromSequences(examples: readonly { context: readonly number[]; continuation: readonly number[] }[], maxSeqLen: number): TokenBatch {
  if (examples.length === 0) throw new Error("batchFromSequences: no examples");
  const rows = examples.map((e) => {
    const full = [...e.context, ...e.continuation];
    const cut = Math.max(0, full.length - (maxSeqLen + 1));
    return { seq: full.slice(cut), firstTarget: Math.max(1, e.context.length - cut) }; // index of the first scored token in seq
  });
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.seq.length - 1));
  if (T < 1) throw new Error("batchFromSequences: every example needs at least two tokens (a context token and a continuation token)");
  const ids = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  rows.forEach(({ seq, firstTarget }, b) => {
    for (let t = 0; t < seq.length - 1; t++) {
      ids[b * T + t] = seq[t]!;
      targets[b * T + t] = seq[t + 1]!;
      if (t + 1 >= firstTarget) mask[b * T + t] = 1;
    }
  });
  return tokenBatch({ B, T, ids, targets, mask });
}

/** A TokenBatch from its arrays (counts the scored tokens). */
export function tokenBatch(b: { B: number; T: number; ids: Int32Array; targets: Int32Array; mask: Float32Array }): TokenBatch {
  const { B, T, ids, targets, mask } = b;
  if (ids.length !== B * T || targets.length !== B * T || mask.length !== B * T) throw new Error(`tokenBatch: arrays must have B·T = ${B * T} entries`);
  const tokens = mask.reduce((s, m) => s + (m ? 1 : 0), 0);
  return { B, T, ids, targets, mask, tokens, idsTensor: () => tf.tensor2d(ids, [B, T], "int32") };
}

/** Tokenize and batch (context, continuation) pairs (see encodePair and batchFromSequences). */
export function makeBatch(tokenizer: Tokenizer, pairs: readonly { context: string; continuation: string }[], maxSeqLen: number): TokenBatch {
  return batchFromSequences(
    pairs.map((p) => encodePair(tokenizer, p.context, p.continuation)),
    maxSeqLen,
  );
}

/** Flat indices (b·T + t) of the scored positions and their target ids, in index order. */
export function continuationRows(batch: Pick<TokenBatch, "mask" | "targets">): { rows: number[]; targets: number[] } {
  const rows: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < batch.mask.length; i++) {
    if (batch.mask[i]) {
      rows.push(i);
      targets.push(batch.targets[i]!);
    }
  }
  return { rows, targets };
}

/** Mean cross-entropy over the batch's continuation tokens, differentiable w.r.t. the attached LoRA variables. */
export function continuationLoss(decoder: Decoder, batch: TokenBatch, opts: ForwardOptions = {}): tf.Scalar {
  const { rows, targets } = continuationRows(batch);
  if (rows.length === 0) throw new Error("continuationLoss: the batch has no continuation tokens (mask is all zero)");
  return tf.tidy(() => {
    const d = decoder.config.hiddenSize;
    const h = decoder.hidden(batch.idsTensor(), opts).reshape([batch.B * batch.T, d]) as tf.Tensor2D;
    const hSel = rows.length === batch.B * batch.T ? h : selectRows(h, rows); // [M, d]
    return lmHeadCrossEntropy(hSel, decoder.lmHead, Int32Array.from(targets));
  });
}

/** softmax − onehot of every chunk is kept from the forward for the backward up to this many floats (256 MB). */
export const KEEP_DIFF_FLOATS = 2 ** 26;

/** Rows per lm_head chunk so one chunk's logits stay near 2^24 floats (64 MB). */
export function lmHeadChunkRows(vocabSize: number): number {
  return Math.max(1, Math.floor(2 ** 24 / vocabSize));
}

/**
 * mean_m CE(h[m]·Wᵀ, targets[m]) for h [M, d] and the frozen lm_head weight W [V, d], computed in row chunks.
 * Gradient for h only: dh = (softmax(h·Wᵀ) − onehot(targets))·W / M, recomputed chunk by chunk.
 * logsumexp is taken as max − log(max(softmax)) (the softmax at the argmax is 1/Σexp(x − max) ≥ 1/V, so nothing
 * underflows): tfjs' logSumExp runs a scalar exp over all [m, V] logits, ~5× the cost of the fused softmax kernel.
 */
export function lmHeadCrossEntropy(
  h: tf.Tensor2D, lmHead: { weight: tf.Tensor2D }, targets: Int32Array, chunkRows = lmHeadChunkRows(lmHead.weight.shape[0]), keepDiffFloats = KEEP_DIFF_FLOATS,
): tf.Scalar {
  const [M, d] = h.shape;
  const V = lmHead.weight.shape[0];
  if (targets.length !== M) throw new Error(`lmHeadCrossEntropy: ${targets.length} targets for ${M} rows`);
  const chunks: [number, number][] = [];
  for (let s = 0; s < M; s += chunkRows) chunks.push([s, Math.min(M, s + chunkRows)]);
  const rowsOf = (x: tf.Tensor2D, s: number, e: number) => (chunks.length === 1 ? x : tf.slice(x, [s, 0], [e - s, d]));
  // The [m, V] chunk tensors are ~64 MB each on Qwen's vocabulary, so every one is disposed as soon as it is used
  // (a tidy would keep all of them to its end): at most three are alive at once. The values are unchanged.
  const oneHotOf = (s: number, e: number) => tf.tidy(() => tf.oneHot(tf.tensor1d(targets.subarray(s, e), "int32"), V).toFloat()); // [m, V]
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
