import { test } from "node:test";
import assert from "node:assert/strict";
import { DataOrder } from "./data-order.ts";

test("batches cover each epoch exactly once, in a seeded order, and depend only on the step", () => {
  const o = new DataOrder(10, 3, true);
  const first = [0, 1, 2, 3, 4].flatMap((s) => o.batch(s, 2));
  assert.deepEqual(
    [...first].sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.notDeepEqual(first, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // A fresh object asked for step 7 directly (as after a resume) gives the same batch.
  assert.deepEqual(new DataOrder(10, 3, true).batch(7, 2), o.batch(7, 2));
  // Another seed differs; no shuffle is the identity.
  assert.notDeepEqual(new DataOrder(10, 4, true).batch(0, 5), o.batch(0, 5));
  assert.deepEqual(new DataOrder(10, 3, false).batch(1, 4), [4, 5, 6, 7]);
  // Straddling an epoch boundary.
  assert.equal(new DataOrder(3, 0, false).batch(1, 2).join(), "2,0");
});
