// The last step of lm-eval's loglikelihood: from final hidden states of the scored positions to log p(target) and
// whether the target is the argmax, through lm_head in row chunks (a 151,936-token vocabulary never needs more than
// ~2^24 logits at once), one read per chunk.
import * as tf from "@tensorflow/tfjs";
import type { Decoder } from "../models/decoder.ts";
import { lmHeadChunkRows } from "../models/batch.ts";
import { readMany } from "../util/read.ts";

/** log p(targets[m]) and argmax == targets[m] for each row of h [M, d]; disposes h. */
export async function scoreHidden(
  decoder: Decoder,
  h: tf.Tensor2D,
  targets: readonly number[],
): Promise<{ logprob: Float32Array; greedy: boolean[] }> {
  const V = decoder.config.vocabSize;
  const [M, d] = h.shape;
  const chunk = lmHeadChunkRows(V);
  const logprob = new Float32Array(M);
  const greedy: boolean[] = [];
  try {
    for (let s = 0; s < M; s += chunk) {
      const e = Math.min(M, s + chunk);
      const [lp, am] = await readMany(() => {
        const logits = decoder.logits(tf.slice(h, [s, 0], [e - s, d])); // [m, V]
        const target = tf.sum(tf.mul(logits, tf.oneHot(tf.tensor1d(targets.slice(s, e), "int32"), V)), 1);
        return [tf.sub(target, tf.logSumExp(logits, 1)), tf.argMax(logits, 1)];
      });
      logprob.set(lp!, s);
      for (let k = s; k < e; k++) greedy.push(am![k - s] === targets[k]);
    }
  } finally {
    h.dispose();
  }
  return { logprob, greedy };
}
