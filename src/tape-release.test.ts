// Tests for src/tape-release.ts: gradients are bit-identical with and without the early release (reused inputs,
// multi-output ops, a custom gradient handing one tensor to two inputs, a caller's dy, nested tf.grads), the
// backward holds fewer bytes, and every tensor is freed afterwards.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import { enableTapeRelease, setTapeRelease } from "./tape-release.ts";

await initBackend("wasm");
assert.ok(enableTapeRelease(), "initBackend installs the tape release");

/** The same custom gradient for both inputs: one tensor object becomes two inputs' gradients. */
const sameGradAdd = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
  value: tf.add(args[0] as tf.Tensor, args[1] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => {
    const g = tf.mul(dy, 2);
    return [g, g];
  },
})) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

function loss(x: tf.Tensor): tf.Scalar {
  const h = tf.tanh(tf.mul(x, x)); // x used twice
  const [p, q] = tf.split(h, 2, 1) as [tf.Tensor, tf.Tensor]; // two outputs
  const s = sameGradAdd(tf.sin(p), tf.cos(q));
  return tf.sum(tf.mul(s, tf.add(p, q))); // (sameGradAdd's inputs are used once: tfjs itself disposes an accumulated one)
}

function grads(on: boolean): Float32Array[] {
  setTapeRelease(on);
  try {
    return tf.tidy(() => {
      const x = tf.tensor2d(
        Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 0.7),
        [3, 8],
      );
      const dy = tf.scalar(1.5);
      const g1 = tf.grad(loss)(x, dy);
      assert.equal(dy.isDisposed, false, "the caller's dy survives the backward");
      const g2 = tf.grad((y: tf.Tensor) => tf.sum(tf.grad(loss)(y)))(x); // second order: nothing may be released
      return [g1.dataSync() as Float32Array, g2.dataSync() as Float32Array];
    });
  } finally {
    setTapeRelease(true);
  }
}

test("gradients are bit-identical with and without the release, and no tensor is left behind", () => {
  const before = tf.memory().numTensors;
  const off = grads(false);
  const on = grads(true);
  assert.deepEqual(on[0], off[0]);
  assert.deepEqual(on[1], off[1]);
  assert.ok(on[0]!.some((v) => v !== 0) && on[1]!.some((v) => v !== 0), "gradients are non-trivial");
  assert.equal(tf.memory().numTensors, before);
});

test("the backward of a long chain holds far fewer bytes", () => {
  const n = 40;
  const measureAtBottom = (on: boolean): number => {
    setTapeRelease(on);
    let bytes = 0;
    // The first op of the chain records the live bytes when the backward reaches it (the last node walked).
    const probe = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
      value: tf.mul(args[0] as tf.Tensor, 1),
      gradFunc: (dy: tf.Tensor) => {
        bytes = tf.memory().numBytes;
        return tf.mul(dy, 1);
      },
    })) as (x: tf.Tensor) => tf.Tensor;
    try {
      tf.tidy(() => {
        const x = tf.ones([4096]);
        tf.grad((x: tf.Tensor) => {
          let h = probe(x);
          for (let i = 0; i < n; i++) h = tf.sin(h);
          return tf.sum(h);
        })(x);
      });
    } finally {
      setTapeRelease(true);
    }
    return bytes;
  };
  const off = measureAtBottom(false);
  const on = measureAtBottom(true);
  const layer = 4096 * 4;
  assert.ok(
    off - on > (n / 2) * layer,
    `release should free most of ${n} gradient and saved tensors: ${on} vs ${off} bytes`,
  );
});
