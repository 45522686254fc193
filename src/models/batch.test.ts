// Batching of (context, continuation) pairs as lm-eval encodes them: special tokens on the context, trailing
// whitespace moved to the continuation, shifted targets, the continuation mask, right padding and left truncation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCharTokenizer } from "./char-tokenizer.ts";
import { batchFromSequences, encodePair, makeBatch } from "./batch.ts";

const tok = createCharTokenizer();

test("encodePair: special tokens on the context only, trailing context whitespace moves to the continuation", () => {
  const e = encodePair(tok, "ab ", "c");
  assert.deepEqual(e.context, tok.encode("ab", { addSpecialTokens: true }));
  assert.deepEqual(e.continuation, tok.encode(" c", { addSpecialTokens: false }));
  assert.deepEqual(encodePair(tok, "", "x").context, [tok.bosTokenId]);
  assert.throws(() => encodePair(tok, "a", ""), /encodes to no tokens/);
});

test("batchFromSequences: shifted targets, continuation mask, right padding, left truncation keeps the continuation", () => {
  const b = batchFromSequences(
    [
      { context: [1, 2, 3], continuation: [4, 5] },
      { context: [6], continuation: [7] },
    ],
    10,
  );
  assert.equal(b.T, 4);
  assert.deepEqual(Array.from(b.ids), [1, 2, 3, 4, 6, 0, 0, 0]);
  assert.deepEqual(Array.from(b.targets), [2, 3, 4, 5, 7, 0, 0, 0]);
  assert.deepEqual(Array.from(b.mask), [0, 0, 1, 1, 1, 0, 0, 0]);
  assert.equal(b.tokens, 3);
  const cut = batchFromSequences([{ context: [1, 2, 3, 4, 5, 6], continuation: [7, 8] }], 4);
  assert.deepEqual(Array.from(cut.ids), [4, 5, 6, 7]);
  assert.deepEqual(Array.from(cut.targets), [5, 6, 7, 8]);
  assert.deepEqual(Array.from(cut.mask), [0, 0, 1, 1]);
  const long = batchFromSequences([{ context: [1], continuation: [2, 3, 4, 5, 6] }], 3);
  assert.deepEqual(Array.from(long.targets), [4, 5, 6]);
  assert.deepEqual(Array.from(long.mask), [1, 1, 1]);
  const fromText = makeBatch(tok, [{ context: "hi", continuation: " yo" }], 64);
  assert.equal(fromText.tokens, 3);
});
