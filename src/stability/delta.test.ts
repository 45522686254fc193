import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { deltaTerms } from "./delta.ts";
import { stepSignals, clipGradients } from "./signals.ts";
import { Rng } from "../util/rng.ts";

function rand(rng: Rng, shape: [number, number], scale = 1): tf.Tensor2D {
  const n = shape[0] * shape[1];
  return tf.tensor2d(
    Float32Array.from({ length: n }, () => rng.normal() * scale),
    shape,
  );
}

test("δ1+δ2+δ3 = ΔY, and each term matches a float64 computation", async () => {
  await initBackend("cpu");
  const base = tf.memory().numTensors;
  const rng = new Rng(1);
  const [r, n, m, N] = [3, 5, 4, 6];
  const A = rand(rng, [r, n]),
    B = rand(rng, [m, r], 0.1),
    A1 = rand(rng, [r, n]),
    B1 = rand(rng, [m, r], 0.1),
    Z = rand(rng, [N, n]);
  const s = 2;
  const out = (await deltaTerms([{ module: "x", before: { A, B }, after: { A: A1, B: B1 }, Z, scaling: s }]))["x"]!;
  assert.ok(out.identityError < 1e-5, `identity error ${out.identityError}`);
  // float64 reference of δ1 = s·(Z·Aᵀ)·(B1−B)ᵀ
  const [a, b, b1, z] = [A, B, B1, Z].map((t) => t.arraySync() as number[][]) as [
    number[][],
    number[][],
    number[][],
    number[][],
  ];
  let ss = 0;
  for (let i = 0; i < N; i++)
    for (let o = 0; o < m; o++) {
      let v = 0;
      for (let k = 0; k < r; k++) {
        let za = 0;
        for (let j = 0; j < n; j++) za += z[i]![j]! * a[k]![j]!;
        v += za * (b1[o]![k]! - b[o]![k]!);
      }
      ss += (s * v) ** 2;
    }
  assert.ok(Math.abs(out.d1 - Math.sqrt(ss / (N * m))) < 1e-5 * Math.sqrt(ss / (N * m)));
  tf.dispose([A, B, A1, B1, Z]);
  assert.equal(tf.memory().numTensors, base);
});

test("step signals: norms, normalised ratio, clipping like torch", async () => {
  await initBackend("cpu");
  const A = tf.variable(tf.tensor2d([[3, 4]]), true, "m.lora_A.weight"); // [1,2], ‖A‖=5
  const B = tf.variable(tf.tensor2d([[0], [1], [0]]), true, "m.lora_B.weight"); // [3,1], ‖B‖=1
  const pair = { module: "m", A, B, scaling: 1, inDim: 2, outDim: 3, r: 1 };
  const grads = { [A.name]: tf.tensor2d([[0, 3]]), [B.name]: tf.tensor2d([[4], [0], [0]]) };
  const s = await stepSignals([pair], grads);
  assert.equal(s.modules.m!.normA, 5);
  assert.ok(Math.abs(s.modules.m!.normRatio - 5 / 2 / (1 / 3)) < 1e-12);
  assert.equal(s.gradNorm, 5);
  const { grads: g2, coef } = clipGradients(grads, s.gradNorm, 1);
  assert.ok(Math.abs(coef - 1 / (5 + 1e-6)) < 1e-12);
  assert.ok(Math.abs(g2[A.name]!.dataSync()[1]! - 3 * coef) < 1e-6);
  tf.dispose([A, B, ...Object.values(grads), ...Object.values(g2)]);
});
