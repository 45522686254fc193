import { test } from "node:test";
import assert from "node:assert/strict";
import { createCharTokenizer } from "./char-tokenizer.ts";

test("char tokenizer: BOS on request, round trip, unknown characters rejected", () => {
  const t = createCharTokenizer();
  const ids = t.encode("ab c", { addSpecialTokens: true });
  assert.equal(ids[0], t.bosTokenId);
  assert.equal(ids.length, 5);
  assert.equal(t.decode(ids, { skipSpecialTokens: true }), "ab c");
  assert.deepEqual(t.encode(" a", { addSpecialTokens: false }), [3, 4]);
  assert.throws(() => t.encode("é", { addSpecialTokens: false }), /not in its alphabet/);
});
