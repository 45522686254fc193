// Gradient accumulation: a step in micro-batches (of unequal token counts) gives the loss and the LoRA gradients of
// the full batch, the token-weighted mean over the whole batch (not a mean of micro-batch means), and the same
// update, within float32 tolerance; on cpu and wasm here, on webgpu (SwiftShader) in webgpu.e2e.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseOverrides, resolveRunConfig } from "../config.ts";
import { checkAccumulation } from "./accumulation-check.ts";
import { microBatches } from "./step.ts";

test("train.microBatchSize: unset by default (configs keep their hash), ≤ batchSize, set with --set", () => {
  assert.ok(!("microBatchSize" in resolveRunConfig({}).train), "no default: an unset config hashes as before");
  assert.equal(resolveRunConfig(parseOverrides(["train.microBatchSize=2"])).train.microBatchSize, 2);
  assert.throws(
    () => resolveRunConfig(parseOverrides(["train.microBatchSize=9"])),
    /train\.microBatchSize \(9\) must be ≤ train\.batchSize \(8\)/,
  );
  assert.throws(() => resolveRunConfig(parseOverrides(["train.microBatchSize=0"])), /train\.microBatchSize/);
});

test("microBatches: sizes, order, null = one batch", () => {
  assert.deepEqual(microBatches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(microBatches([1, 2, 3], null), [[1, 2, 3]]);
  assert.deepEqual(microBatches([1, 2, 3], 8), [[1, 2, 3]]);
});

for (const backend of ["cpu", "wasm"] as const) {
  test(`an accumulated step equals the full-batch step (${backend})`, async () => {
    await checkAccumulation(backend);
  });
}
