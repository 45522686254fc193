// The decoder as an lm-eval LanguageModel: batched loglikelihood equals a per-request full-logits computation, in
// input order, with isGreedy; requests sharing a context (a question's choices, run once through the KV cache) score
// as one forward each would; generateUntil stops at (and strips) stop strings. (The `score` command that wraps it:
// src/cli/score.e2e.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { buildDecoder, type Decoder } from "../models/decoder.ts";
import { createCharTokenizer } from "../models/char-tokenizer.ts";
import { customConfig, randomWeights } from "../models/presets.ts";
import { generateGreedy } from "../models/generate.ts";
import type { Tokenizer } from "../models/tokenizer.ts";
import { Rng } from "../util/rng.ts";
import { encodePair } from "../models/batch.ts";
import { createLanguageModel } from "./model-lm.ts";
import { sharedContextGroups } from "./shared-context.ts";

const tok = createCharTokenizer();
const config = customConfig({
  vocabSize: tok.vocabSize,
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
});

/** A random decoder whose greedy continuation of "ab" has no special tokens (so its text re-encodes to the same ids). */
async function textFriendlyDecoder(): Promise<Decoder> {
  for (let seed = 1; ; seed++) {
    const d = buildDecoder(config, randomWeights(config, new Rng(seed), 0.3));
    const ids = (await generateGreedy(d, tok.encode("ab", { addSpecialTokens: true }), { maxNewTokens: 12 })).ids;
    if (ids.length === 12 && ids.every((i) => i > 2)) return d;
    d.dispose();
  }
}

/** Σ log p over the continuation from one unbatched full forward. */
function naive(
  d: Decoder,
  t: Tokenizer,
  context: string,
  continuation: string,
): { logprob: number; isGreedy: boolean } {
  const e = encodePair(t, context, continuation);
  const seq = [...e.context, ...e.continuation];
  return tf.tidy(() => {
    const V = d.config.vocabSize;
    const logp = tf.logSoftmax(d.forward(tf.tensor2d([seq.slice(0, -1)], undefined, "int32"))).dataSync();
    let lp = 0,
      greedy = true;
    for (let i = e.context.length; i < seq.length; i++) {
      const row = logp.subarray((i - 1) * V, i * V);
      lp += row[seq[i]!]!;
      greedy &&= row.indexOf(Math.max(...row)) === seq[i];
    }
    return { logprob: lp, isGreedy: greedy };
  });
}

test("loglikelihood: batched, sorted, padded = per-request full forward, in input order", async () => {
  await initBackend("wasm");
  const d = await textFriendlyDecoder();
  try {
    const greedyText = tok.decode(
      (await generateGreedy(d, tok.encode("ab", { addSpecialTokens: true }), { maxNewTokens: 4 })).ids,
    );
    const reqs = [
      { context: "the quick brown fox", continuation: " jumps" },
      { context: "ab", continuation: greedyText },
      { context: "", continuation: "hello" },
      { context: "x ", continuation: "y" },
      { context: "a longer context here", continuation: " and a longer continuation" },
    ];
    const lm = createLanguageModel(d, tok, { batchSize: 2 });
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const got = await lm.loglikelihood(reqs, { onProgress: (done) => progress.push(done) });
    assert.equal(tf.memory().numTensors, before, "scoring leaked tensors");
    assert.deepEqual(progress, [2, 4, 5]);
    reqs.forEach((r, i) => {
      const ref = naive(d, tok, r.context, r.continuation);
      assert.ok(
        Math.abs(got[i]!.logprob - ref.logprob) < 1e-4 * Math.max(1, Math.abs(ref.logprob)),
        `request ${i}: ${got[i]!.logprob} vs ${ref.logprob}`,
      );
      assert.equal(got[i]!.isGreedy, ref.isGreedy, `request ${i}: isGreedy`);
    });
    assert.equal(got[1]!.isGreedy, true, "the model's own greedy continuation is greedy");
    assert.equal(got[0]!.isGreedy, false);
  } finally {
    d.dispose();
  }
});

for (const backend of ["wasm", "cpu"] as const) {
  test(`loglikelihood, a question's choices sharing one context run (KV cache) = one forward per request (${backend})`, async () => {
    await initBackend(backend);
    const d = buildDecoder(config, randomWeights(config, new Rng(5), 0.3));
    try {
      const reqs = [
        { context: "the capital of france is", continuation: " paris" },
        { context: "2+2=", continuation: "4" }, // single-token continuations: no continuation step
        { context: "the capital of france is", continuation: " rome" },
        { context: "a question of its own", continuation: " answered" }, // no shared context
        { context: "the capital of france is ", continuation: "a town" }, // the trailing space moves: shared
        { context: "2+2=", continuation: "5" },
        { context: "q: 1+1? a:", continuation: " 2" }, // same length as another group's context, other ids
        { context: "q: 2+1? a:", continuation: " 3" },
        { context: "q: 1+1? a:", continuation: " two" },
        { context: "q: 2+1? a:", continuation: " three, or 3" },
        { context: "a context long enough to be cut", continuation: " on the left" }, // over maxLength: per request
        { context: "a context long enough to be cut", continuation: " as well, also cut" },
      ];
      const enc = reqs.map((r) => encodePair(tok, r.context, r.continuation));
      assert.deepEqual(
        sharedContextGroups(enc, 40),
        [
          [1, 5],
          [6, 8],
          [7, 9],
          [0, 2, 4],
        ],
        "groups by context ids (fitting whole), shortest context first",
      );
      const lm = createLanguageModel(d, tok, { batchSize: 5, maxLength: 40 });
      const perRequest = createLanguageModel(d, tok, { batchSize: 5, maxLength: 40, shareContexts: false });
      const before = tf.memory().numTensors;
      const progress: number[] = [];
      const got = await lm.loglikelihood(reqs, { onProgress: (done) => progress.push(done) });
      assert.equal(tf.memory().numTensors, before, "scoring leaked tensors");
      assert.equal(progress.at(-1), reqs.length);
      const want = await perRequest.loglikelihood(reqs);
      reqs.forEach((r, i) => {
        const tol = 1e-5 * Math.max(1, Math.abs(want[i]!.logprob));
        assert.ok(
          Math.abs(got[i]!.logprob - want[i]!.logprob) < tol,
          `${i}: ${got[i]!.logprob} vs ${want[i]!.logprob}`,
        );
        assert.equal(got[i]!.isGreedy, want[i]!.isGreedy, `${i}: isGreedy`);
        if (i < 10) {
          const ref = naive(d, tok, r.context, r.continuation);
          assert.ok(
            Math.abs(got[i]!.logprob - ref.logprob) < 1e-4 * Math.max(1, Math.abs(ref.logprob)),
            `${i} vs naive`,
          );
        }
      });
    } finally {
      d.dispose();
    }
  });
}

test("generateUntil: greedy text cut at the first stop string", async () => {
  await initBackend("wasm");
  const d = await textFriendlyDecoder();
  try {
    const lm = createLanguageModel(d, tok);
    const before = tf.memory().numTensors;
    const [full] = await lm.generateUntil([{ context: "ab", until: [], maxNewTokens: 12 }]);
    assert.equal(full!.length, 12);
    const stop = full!.slice(3, 5);
    const [cut] = await lm.generateUntil([{ context: "ab", until: [stop], maxNewTokens: 12 }]);
    assert.equal(cut, full!.slice(0, full!.indexOf(stop)));
    assert.equal(tf.memory().numTensors, before);
  } finally {
    d.dispose();
  }
});
