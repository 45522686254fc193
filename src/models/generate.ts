// Greedy decoding with a KV cache (transformers' generate(do_sample=False)): one forward over the prompt fills the
// cache, then each step feeds only the newest token. The result equals the argmax continuation of repeated full
// forwards (tested); logprobs are log-softmax of the chosen token at each step.
import * as tf from "@tensorflow/tfjs";
import { readValues } from "../util/read.ts";
import type { Decoder } from "./decoder.ts";

export interface GreedyOptions {
  maxNewTokens: number;
  /** Stop after emitting any of these ids (the id is kept in the output, like transformers). */
  stopIds?: readonly number[];
  /** Checked after every step with the ids generated so far (e.g. decode and look for a stop string). */
  shouldStop?: (generated: readonly number[]) => boolean;
}

export interface GreedyResult {
  /** Generated ids (the prompt excluded). */
  ids: number[];
  /** log p(id | prefix) of each generated id. */
  logprobs: number[];
}

export async function generateGreedy(
  decoder: Decoder,
  promptIds: readonly number[],
  opts: GreedyOptions,
): Promise<GreedyResult> {
  if (promptIds.length === 0) throw new Error("generateGreedy: the prompt is empty (give at least a BOS token)");
  const maxPos = decoder.config.maxPositionEmbeddings;
  const maxNew = Math.min(opts.maxNewTokens, maxPos - promptIds.length);
  if (maxNew < 0)
    throw new Error(
      `generateGreedy: the prompt has ${promptIds.length} tokens, more than max_position_embeddings ${maxPos}`,
    );
  const stop = new Set(opts.stopIds ?? []);
  const cache = decoder.newCache();
  const ids: number[] = [];
  const logprobs: number[] = [];
  try {
    let input: number[] = [...promptIds];
    for (let i = 0; i < maxNew; i++) {
      const v = await readValues(() => {
        const h = decoder.step(tf.tensor2d(input, [1, input.length], "int32"), cache); // [1, T, d]
        const last = tf.slice(h, [0, input.length - 1, 0], [1, 1, h.shape[2]]).reshape([1, h.shape[2]]) as tf.Tensor2D;
        return argMaxAndLogprob(decoder.logits(last)); // [1, V] → [id, log p]
      });
      const next = v[0]!;
      ids.push(next);
      logprobs.push(v[1]!);
      if (stop.has(next) || opts.shouldStop?.(ids)) break;
      input = [next];
    }
  } finally {
    cache.dispose();
  }
  return { ids, logprobs };
}

/** Greedy continuation by a full forward per step (no cache): the reference the KV-cache path must equal. */
export async function generateGreedyNoCache(
  decoder: Decoder,
  promptIds: readonly number[],
  maxNewTokens: number,
): Promise<GreedyResult> {
  const seq = [...promptIds];
  const ids: number[] = [];
  const logprobs: number[] = [];
  for (let i = 0; i < maxNewTokens; i++) {
    const v = await readValues(() => {
      const h = decoder.hidden(tf.tensor2d(seq, [1, seq.length], "int32")); // [1, T, d]
      const last = tf.slice(h, [0, seq.length - 1, 0], [1, 1, h.shape[2]]).reshape([1, h.shape[2]]) as tf.Tensor2D;
      return argMaxAndLogprob(decoder.logits(last));
    });
    const next = v[0]!;
    ids.push(next);
    logprobs.push(v[1]!);
    seq.push(next);
  }
  return { ids, logprobs };
}

/** [argmax id, its log-probability] of one row of logits [1, V], as one float tensor [2] (ids < 2^24 are exact). */
function argMaxAndLogprob(logits: tf.Tensor2D): tf.Tensor {
  const id = tf.cast(tf.argMax(logits, 1), "float32");
  const logp = tf.sub(tf.max(logits, 1), tf.logSumExp(logits, 1));
  return tf.concat([id, logp], 0);
}
