// The fused wasm kernels (src/wasm-fused.ts) against the tfjs op chains they replace, on seeded random inputs:
// SwiGLU and the LoRA linear layer bit-identical forward and backward, RMSNorm within float32 reassociation,
// tensor counts back to baseline. Skips when the native addon was not built (the fused kernels need it).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import { disableNativeMatmul, enableNativeMatmul, loadMatmulAddon } from "./native-matmul.ts";
import {
  fusedGatherRows,
  fusedKernelsActive,
  fusedLoraLinear,
  fusedRmsNorm,
  fusedScaleAll,
  fusedSumSquares,
  fusedSwiGlu,
  setFusedKernels,
} from "./wasm-fused.ts";
import { Rng } from "./util/rng.ts";

const noAddon = typeof loadMatmulAddon() === "string" ? "optional native matmul addon not built" : false;

function randn(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) v[i] = scale * rng.normal();
  return tf.tensor(v, shape);
}

/** max|x − y| / max|y|. */
function relErr(x: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]! / Math.max(1e-30, tf.max(tf.abs(y)).dataSync()[0]!));
}

function assertSame(got: tf.Tensor, want: tf.Tensor, what: string): void {
  assert.deepEqual(got.shape, want.shape, what);
  const a = got.dataSync(),
    b = want.dataSync();
  for (let i = 0; i < a.length; i++)
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i}: ${a[i]} vs ${b[i]}`);
}

/** Value and gradients of sum(f(xs)·w) w.r.t. xs, for a fixed random cotangent w. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], w: tf.Tensor): [tf.Tensor, tf.Tensor[]] {
  const y = f(...xs);
  const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(...ys), w)))(xs);
  return [y, grads];
}

test("fused SwiGLU equals (gate·sigmoid(gate))·up bit for bit, values and gradients", { skip: noAddon }, async () => {
  await initBackend("wasm");
  enableNativeMatmul();
  assert.ok(fusedKernelsActive());
  const base = tf.memory().numTensors;
  const rng = Rng.derive(1, "fused-swiglu");
  tf.tidy(() => {
    const g = randn(rng, [37, 53], 3),
      u = randn(rng, [37, 53]),
      w = randn(rng, [37, 53]);
    const [y, [dg, du]] = valueAndGrads((a, b) => fusedSwiGlu(a as tf.Tensor2D, b as tf.Tensor2D), [g, u], w);
    const [y0, [dg0, du0]] = valueAndGrads((a, b) => tf.mul(tf.mul(a, tf.sigmoid(a)), b), [g, u], w);
    assertSame(y, y0, "SwiGLU");
    assertSame(dg!, dg0!, "d gate");
    assertSame(du!, du0!, "d up");
  });
  assert.equal(tf.memory().numTensors, base);
});

test(
  "fused RMSNorm matches w·x/sqrt(mean(x²)+eps) within float32 reassociation, values and gradients",
  { skip: noAddon },
  async () => {
    await initBackend("wasm");
    enableNativeMatmul();
    const base = tf.memory().numTensors;
    const rng = Rng.derive(2, "fused-rmsnorm");
    for (const [N, d, eps] of [
      [5, 64, 1e-6],
      [33, 96, 1e-5],
      [1, 7, 1e-6],
    ] as const) {
      tf.tidy(() => {
        const x = randn(rng, [N, d], 2),
          wv = randn(rng, [d]) as tf.Tensor1D,
          w = randn(rng, [N, d]);
        const [y, [dx]] = valueAndGrads((a) => fusedRmsNorm(a as tf.Tensor2D, wv, eps), [x], w);
        const composed = (a: tf.Tensor) =>
          tf.mul(tf.mul(a, tf.rsqrt(tf.add(tf.mean(tf.square(a), -1, true), eps))), wv);
        const [y0, [dx0]] = valueAndGrads(composed, [x], w);
        assert.ok(relErr(y, y0) <= 1e-6, `RMSNorm [${N}, ${d}]: ${relErr(y, y0)}`);
        assert.ok(relErr(dx!, dx0!) <= 1e-5, `RMSNorm grad [${N}, ${d}]: ${relErr(dx!, dx0!)}`);
      });
    }
    assert.equal(tf.memory().numTensors, base);
  },
);

test(
  "fused LoRA linear equals x·Wt + bias + s·(x·Aᵀ)·Bᵀ bit for bit, values and dx, dA, dB",
  { skip: noAddon },
  async () => {
    await initBackend("wasm");
    assert.ok(enableNativeMatmul().active);
    const base = tf.memory().numTensors;
    const rng = Rng.derive(3, "fused-lora-linear");
    for (const [N, inDim, outDim, r, bias] of [
      [64, 48, 80, 8, false],
      [130, 96, 40, 4, true],
      [3, 16, 24, 8, true],
    ] as const) {
      tf.tidy(() => {
        const x = randn(rng, [N, inDim]),
          Wt = randn(rng, [inDim, outDim], 0.1) as tf.Tensor2D;
        const A = randn(rng, [r, inDim], 0.1),
          B = randn(rng, [outDim, r], 0.1),
          w = randn(rng, [N, outDim]);
        const b = bias ? (randn(rng, [outDim]) as tf.Tensor1D) : undefined;
        const s = 2;
        const fused = (xi: tf.Tensor, a: tf.Tensor, bb: tf.Tensor) =>
          fusedLoraLinear(xi as tf.Tensor2D, Wt, b, a as tf.Tensor2D, bb as tf.Tensor2D, s);
        const composed = (xi: tf.Tensor, a: tf.Tensor, bb: tf.Tensor) => {
          const y = b ? tf.add(tf.matMul(xi, Wt), b) : tf.matMul(xi, Wt);
          return tf.add(y, tf.matMul(tf.mul(tf.matMul(xi, a, false, true), s), bb, false, true));
        };
        const [y, [dx, dA, dB]] = valueAndGrads(fused, [x, A, B], w);
        const [y0, [dx0, dA0, dB0]] = valueAndGrads(composed, [x, A, B], w);
        const what = `N ${N}, in ${inDim}, out ${outDim}, r ${r}, bias ${bias}`;
        assertSame(y, y0, `${what}: y`);
        assertSame(dx!, dx0!, `${what}: dx`);
        assertSame(dA!, dA0!, `${what}: dA`);
        assertSame(dB!, dB0!, `${what}: dB`);
      });
    }
    assert.equal(tf.memory().numTensors, base);
  },
);

test(
  "fused sums of squares and one factor on many tensors equal tf.sum(tf.square(x)) and tf.mul bit for bit",
  { skip: noAddon },
  async () => {
    await initBackend("wasm");
    enableNativeMatmul();
    const base = tf.memory().numTensors;
    const rng = Rng.derive(5, "fused-sumsq");
    tf.tidy(() => {
      const xs = [[8, 64], [300, 8], [1], [4099]].map((shape, i) => randn(rng, shape, 10 ** (i - 2)));
      const got = fusedSumSquares(xs);
      const want = tf.stack(xs.map((x) => tf.sum(tf.square(x))));
      assertSame(got, want, "sums of squares");
      const c = 0.123456789;
      fusedScaleAll(xs, c).forEach((y, i) => assertSame(y, tf.mul(xs[i]!, c), `scaled tensor ${i}`));
    });
    assert.equal(tf.memory().numTensors, base);
  },
);

test("fused embedding rows equal tf.gather, and an id outside the table is refused", { skip: noAddon }, async () => {
  await initBackend("wasm");
  enableNativeMatmul();
  const base = tf.memory().numTensors;
  const rng = Rng.derive(6, "fused-gather");
  tf.tidy(() => {
    const table = randn(rng, [37, 24]) as tf.Tensor2D;
    const ids = tf.tensor1d(
      Int32Array.from({ length: 50 }, () => rng.int(37)),
      "int32",
    );
    assertSame(fusedGatherRows(table, ids), tf.gather(table, ids), "rows");
    assert.throws(
      () => fusedGatherRows(table, tf.tensor1d([3, 37], "int32")),
      /token id 37 at position 1 is outside the embedding table's 37 rows/,
    );
  });
  assert.equal(tf.memory().numTensors, base);
});

test(
  "setFusedKernels(false) (LORA_LAB_FUSED=0) and a disabled native matmul turn every fused path off",
  { skip: noAddon },
  async () => {
    await initBackend("wasm");
    enableNativeMatmul();
    const was = setFusedKernels(false);
    try {
      assert.equal(fusedKernelsActive(), false);
    } finally {
      setFusedKernels(was);
    }
    assert.equal(fusedKernelsActive(), true);
    disableNativeMatmul();
    try {
      assert.equal(fusedKernelsActive(), false);
    } finally {
      enableNativeMatmul();
    }
    assert.equal(fusedKernelsActive(), true);
  },
);
