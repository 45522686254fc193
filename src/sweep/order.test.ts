// Claim order: longest estimate first, stable, unestimated cells last in their declared order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { longestFirst } from "./order.ts";

test("cells are claimed longest first; ties and unestimated cells keep their declared order", () => {
  const cost: Record<string, number> = { a: 1, b: 5, c: NaN, d: 5, e: 3, f: NaN, g: 0 };
  assert.deepEqual(
    longestFirst(Object.keys(cost), (k) => cost[k]!),
    ["b", "d", "e", "a", "g", "c", "f"],
  );
  assert.deepEqual(
    longestFirst([], () => 1),
    [],
  );
  const input = ["x", "y"];
  longestFirst(input, (k) => (k === "y" ? 2 : 1));
  assert.deepEqual(input, ["x", "y"], "the input is not reordered in place");
});
