// Token batches of (context, continuation) pairs, as both training and evaluation feed them to the decoder:
// lm-evaluation-harness's tokenization (docs/evaluation.md §1), right padding, the scored continuation positions,
// and how many lm_head rows one chunk may hold.
import * as tf from "@tensorflow/tfjs";
import type { Tokenizer } from "./tokenizer.ts";

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
export function encodePair(
  tokenizer: Tokenizer,
  context: string,
  continuation: string,
): { context: number[]; continuation: number[] } {
  const trimmed = context.replace(/\s+$/, "");
  const moved = context.slice(trimmed.length);
  let ctx = trimmed.length > 0 ? tokenizer.encode(trimmed, { addSpecialTokens: true }) : [];
  if (ctx.length === 0) {
    const prefix = tokenizer.bosTokenId ?? tokenizer.eosTokenId;
    if (prefix === null)
      throw new Error("empty context and the tokenizer has neither a BOS nor an EOS token to condition on");
    ctx = [prefix];
  }
  const cont = tokenizer.encode(moved + continuation, { addSpecialTokens: false });
  if (cont.length === 0)
    throw new Error(
      `continuation ${JSON.stringify(continuation)} encodes to no tokens; there is nothing to score or train on`,
    );
  return { context: ctx, continuation: cont };
}

/**
 * Batch sequences (context ids ++ continuation ids). A sequence longer than maxSeqLen + 1 is cut from the left
 * (lm-eval: keep the last maxSeqLen + 1 tokens), so the continuation is kept whole whenever it fits.
 */
export function batchFromSequences(
  examples: readonly { context: readonly number[]; continuation: readonly number[] }[],
  maxSeqLen: number,
): TokenBatch {
  if (examples.length === 0) throw new Error("batchFromSequences: no examples");
  const rows = examples.map((e) => {
    const full = [...e.context, ...e.continuation];
    const cut = Math.max(0, full.length - (maxSeqLen + 1));
    return { seq: full.slice(cut), firstTarget: Math.max(1, e.context.length - cut) }; // index of the first scored token in seq
  });
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.seq.length - 1));
  if (T < 1)
    throw new Error(
      "batchFromSequences: every example needs at least two tokens (a context token and a continuation token)",
    );
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
export function tokenBatch(b: {
  B: number;
  T: number;
  ids: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
}): TokenBatch {
  const { B, T, ids, targets, mask } = b;
  if (ids.length !== B * T || targets.length !== B * T || mask.length !== B * T)
    throw new Error(`tokenBatch: arrays must have B·T = ${B * T} entries`);
  const tokens = mask.reduce((s, m) => s + (m ? 1 : 0), 0);
  return { B, T, ids, targets, mask, tokens, idsTensor: () => tf.tensor2d(ids, [B, T], "int32") };
}

/** Tokenize and batch (context, continuation) pairs (see encodePair and batchFromSequences). */
export function makeBatch(
  tokenizer: Tokenizer,
  pairs: readonly { context: string; continuation: string }[],
  maxSeqLen: number,
): TokenBatch {
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

/** Rows per lm_head chunk so one chunk's logits stay near 2^24 floats (64 MB). */
export function lmHeadChunkRows(vocabSize: number): number {
  return Math.max(1, Math.floor(2 ** 24 / vocabSize));
}
