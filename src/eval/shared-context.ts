// The choices of a multiple-choice question scored together. lm-eval asks one loglikelihood request per choice, all
// with the question's context, and tokenizes context and continuation apart (docs/evaluation.md §1), so the requests
// of a question share their context's token ids exactly. Here the context runs once, its keys and values go into a
// KV cache, and every continuation runs after it (Decoder.stepAt), instead of one full forward per choice: on a
// 4-choice question with a long context, about a quarter of the work. The numbers are the per-request forward's up to
// float32 reassociation (a continuation's softmax sums the same terms over the cached keys in another order).
// Requests whose context no other request shares, and any that would be cut to fit the model, keep the per-request
// path.
import * as tf from "@tensorflow/tfjs";
import type { Decoder } from "../models/decoder.ts";
import { gatherRows } from "../models/linear.ts";
import { scoreHidden } from "./score-hidden.ts";
import type { LoglikelihoodResult } from "./types.ts";

export interface EncodedRequest {
  readonly context: readonly number[];
  readonly continuation: readonly number[];
}

/**
 * Indices of the requests that share their context ids with another request and fit in maxLength + 1 tokens
 * whole, grouped by context; groups in order of context length, then of first appearance.
 */
export function sharedContextGroups(encoded: readonly EncodedRequest[], maxLength: number): number[][] {
  const byContext = new Map<string, number[]>();
  encoded.forEach((e, i) => {
    if (e.context.length + e.continuation.length > maxLength + 1) return;
    const key = e.context.join(",");
    const g = byContext.get(key);
    if (g) g.push(i);
    else byContext.set(key, [i]);
  });
  return [...byContext.values()]
    .filter((g) => g.length > 1)
    .sort((a, b) => encoded[a[0]!]!.context.length - encoded[b[0]!]!.context.length);
}

/**
 * Score the groups' requests, `batchSize` requests (at least one whole group) per forward pair, each batch holding
 * groups of one context length. Calls onBatch(requests scored) after each batch.
 */
export async function scoreSharedContexts(
  decoder: Decoder,
  encoded: readonly EncodedRequest[],
  groups: readonly number[][],
  batchSize: number,
  onBatch: (scored: number) => Promise<void> | void,
): Promise<Map<number, LoglikelihoodResult>> {
  const out = new Map<number, LoglikelihoodResult>();
  let batch: number[][] = [];
  const flush = async () => {
    if (!batch.length) return;
    const scored = await scoreBatch(decoder, encoded, batch);
    for (const [i, r] of scored) out.set(i, r);
    await onBatch(batch.flat().length);
    batch = [];
  };
  for (const g of groups) {
    const sameLength = batch.length === 0 || encoded[batch[0]![0]!]!.context.length === encoded[g[0]!]!.context.length;
    if (!sameLength || batch.flat().length + g.length > batchSize) await flush();
    batch.push(g);
  }
  await flush();
  return out;
}

/** One batch: the G contexts [G, Tc] into a cache, then the R continuations [R, Tk] after their context's copy. */
async function scoreBatch(
  decoder: Decoder,
  encoded: readonly EncodedRequest[],
  groups: readonly number[][],
): Promise<Map<number, LoglikelihoodResult>> {
  const Tc = encoded[groups[0]![0]!]!.context.length;
  const requests = groups.flat();
  const groupOf = groups.flatMap((g, gi) => g.map(() => gi));
  // The last context position predicts each continuation's first token; its later tokens are predicted by the
  // continuation's own positions (all but its last token go in).
  const Tk = Math.max(...requests.map((i) => encoded[i]!.continuation.length - 1));
  const contIds = new Int32Array(requests.length * Math.max(1, Tk));
  const contRows: number[] = [];
  requests.forEach((i, r) => {
    const c = encoded[i]!.continuation;
    for (let t = 0; t < c.length - 1; t++) {
      contIds[r * Tk + t] = c[t]!;
      contRows.push(r * Tk + t);
    }
  });
  const cache = decoder.newCache();
  try {
    const h = tf.tidy(() => {
      const ctxIds = tf.tensor2d(
        Int32Array.from(groups.flatMap((g) => encoded[g[0]!]!.context)),
        [groups.length, Tc],
        "int32",
      );
      const last = decoder.stepAt(
        ctxIds,
        cache,
        groups.map((_, g) => g * Tc + Tc - 1),
      ); // [G, d]
      if (Tk === 0) return gatherRows(last, groupOf);
      // Each request gets its group's copy of the context's keys and values (row copies: tfjs-wasm's GatherV2 on a
      // 4-D tensor costs more than the forward it saves).
      const copy = (x: tf.Tensor4D) => {
        const [G, ...rest] = x.shape;
        return tf.keep(gatherRows(x.reshape([G, -1]), groupOf).reshape([groupOf.length, ...rest]) as tf.Tensor4D);
      };
      for (let l = 0; l < cache.k.length; l++) {
        const [k, v] = [copy(cache.k[l]!), copy(cache.v[l]!)];
        cache.k[l]!.dispose();
        cache.v[l]!.dispose();
        [cache.k[l], cache.v[l]] = [k, v];
      }
      const rest = decoder.stepAt(tf.tensor2d(contIds, [requests.length, Tk], "int32"), cache, contRows); // [Σ(len−1), d]
      // Rows in request order, each request's first token (from its context) then its own positions.
      const order: number[] = [];
      let k = requests.length;
      requests.forEach((i, r) => {
        order.push(r);
        for (let t = 0; t < encoded[i]!.continuation.length - 1; t++) order.push(k++);
      });
      return gatherRows(tf.concat([gatherRows(last, groupOf), rest], 0), order);
    });
    const { logprob, greedy } = await scoreHidden(
      decoder,
      h,
      requests.flatMap((i) => encoded[i]!.continuation),
    );
    const out = new Map<number, LoglikelihoodResult>();
    let m = 0;
    for (const i of requests) {
      let lp = 0;
      let isGreedy = true;
      for (let t = 0; t < encoded[i]!.continuation.length; t++, m++) {
        lp += logprob[m]!;
        isGreedy &&= greedy[m]!;
      }
      out.set(i, { logprob: lp, isGreedy });
    }
    return out;
  } finally {
    cache.dispose();
  }
}
