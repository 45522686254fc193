// Tests for src/wasm-zero-copy.ts: on wasm, Identity (tf.clone, tensors saved for the backward) and same-dtype Cast
// share the input's buffer, the values survive disposing either tensor, and a real Cast still converts.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import { enableZeroCopyIdentity } from "./wasm-zero-copy.ts";

await initBackend("wasm");

test("clone and same-dtype cast share the buffer; disposing one keeps the other", (t) => {
  if (!enableZeroCopyIdentity()) return t.skip("LORA_LAB_ZERO_COPY=0");
  const before = tf.memory().numTensors;
  const x = tf.tensor1d([1.5, -2, 3]);
  const c = tf.clone(x);
  const f = tf.cast(x, "float32");
  assert.equal(c.dataId, x.dataId);
  assert.equal(f.dataId, x.dataId);
  x.dispose();
  assert.deepEqual([...c.dataSync()], [1.5, -2, 3]);
  c.dispose();
  assert.deepEqual([...f.dataSync()], [1.5, -2, 3]);
  f.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("a cast to another dtype still converts into its own buffer", () => {
  const x = tf.tensor1d([1.7, -2.2, 3]);
  const i = tf.cast(x, "int32");
  assert.notEqual(i.dataId, x.dataId);
  assert.deepEqual([...i.dataSync()], [1, -2, 3]);
  tf.dispose([x, i]);
});

test("gradients through saved tensors are unchanged", () => {
  const g = tf.tidy(
    () =>
      tf
        .grad((x: tf.Tensor) => tf.sum(tf.mul(tf.square(x), tf.sigmoid(x))))(tf.tensor1d([0.5, -1, 2]))
        .arraySync() as number[],
  );
  const expected = [0.5, -1, 2].map((v) => {
    const s = 1 / (1 + Math.exp(-v));
    return 2 * v * s + v * v * s * (1 - s);
  });
  g.forEach((v, k) => assert.ok(Math.abs(v - expected[k]!) < 1e-5, `${v} vs ${expected[k]}`));
});
