// Structural invariants of the optimizers (docs/optimizers.md §3–§6): LoRA+ at ratio 1 and
// Stable-LoRA at λ = 0 are bit-identical to AdamW; LoRA-RITE's update is invariant to (A, B) → (MA, BM⁻¹) while
// AdamW's is not; Riemannian with δ = 0 gives the closed-form scaled-GD directions; Stable-LoRA stops exactly when
// its strict condition first holds, never resumes, and the no-stop ablation never stops.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { Rng } from "../util/rng.ts";
import { createOptimizer } from "./index.ts";
import { inverse, matmul, solve, transpose } from "./linalg.ts";
import { readGrams, scaledGradients } from "./riemannian.ts";
import { GoldenProblem, disposePairs, loadGolden, makePair, optimizerConfig, relErr } from "./testing.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { OptimizerName } from "./types.ts";
import type { OptimizerConfig } from "../config.ts";

const golden = loadGolden();

before(async () => {
  await initBackend("wasm");
});

/** Run `steps` steps of the golden problem; returns the final A, B values per pair. */
async function trajectory(
  cfg: OptimizerConfig,
  steps: number,
  init: "random" | "peft" = "random",
): Promise<Float32Array[]> {
  const problem = new GoldenProblem(golden);
  const pairs = problem.pairs(init);
  const opt = createOptimizer(cfg, pairs);
  for (let k = 0; k < steps; k++) {
    const { grads } = problem.grads(pairs);
    await opt.step(grads, 1e-2 * (1 - 0.1 * k));
    tf.dispose(Object.values(grads));
  }
  const out = pairs.flatMap((p) => [p.A.dataSync() as Float32Array, p.B.dataSync() as Float32Array]);
  opt.dispose();
  disposePairs(pairs);
  problem.dispose();
  return out;
}

test("lora-plus with lrRatio = 1 is bit-identical to adamw", async () => {
  const base = { weightDecay: 0.01, lrRatio: 1 };
  assert.deepEqual(
    await trajectory(optimizerConfig("lora-plus", base), 6),
    await trajectory(optimizerConfig("adamw", base), 6),
  );
  // …and the ratio matters (so the comparison above can fail).
  assert.notDeepEqual(
    await trajectory(optimizerConfig("lora-plus", { lrRatio: 2 }), 2),
    await trajectory(optimizerConfig("adamw"), 2),
  );
});

test("stable-lora with λ = 0 is bit-identical to adamw (with and without weight decay)", async () => {
  for (const weightDecay of [0, 0.01]) {
    const a = await trajectory(optimizerConfig("stable-lora", { lambda: 0, weightDecay }), 6, "peft");
    const b = await trajectory(optimizerConfig("adamw", { weightDecay }), 6, "peft");
    assert.deepEqual(a, b);
  }
  assert.notDeepEqual(
    await trajectory(optimizerConfig("stable-lora", { lambda: 1e-3 }), 2, "peft"),
    await trajectory(optimizerConfig("adamw"), 2, "peft"),
  );
});

/**
 * Change of the product B·A over `steps` steps from (A0, B0) and from (M·A0, B0·M⁻¹) (same function of B·A, so the
 * same loss): returns ‖Δ(BA) − Δ(BA)'‖ / ‖Δ(BA)‖ over both layers.
 */
async function reparamGap(name: OptimizerName, steps: number): Promise<number> {
  const p = golden.problem;
  const r = p.r;
  const rng = new Rng(7);
  // A well-conditioned, non-orthogonal M: diag scales times (I + 0.3·noise).
  const M = new Float64Array(r * r);
  for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) M[i * r + j] = (i === j ? 1 : 0) + 0.3 * rng.normal();
  const D = Float64Array.from({ length: r * r }, (_, k) => (k % (r + 1) === 0 ? [2, 0.5, 1.5, 0.8][k / (r + 1)]! : 0));
  const Mfull = matmul(D, M, r);
  const Minv = inverse(Mfull, r);
  const mm = (X: number[][], Y: Float64Array, left: boolean): number[][] => {
    // left: Y·X ([r,r]·[r,n]); else X·Y ([m,r]·[r,r])
    const rows = left ? r : X.length;
    const cols = left ? X[0]!.length : r;
    return Array.from({ length: rows }, (_, i) =>
      Array.from({ length: cols }, (_, j) => {
        let s = 0;
        for (let k = 0; k < r; k++) s += left ? Y[i * r + k]! * X[k]![j]! : X[i]![k]! * Y[k * r + j]!;
        return s;
      }),
    );
  };
  const cfg = optimizerConfig(name, { eps: 1e-6, clipUnmagnifiedGrad: 0, updateSkipping: 0 });
  const run = async (A0: number[][][], B0: number[][][]) => {
    const problem = new GoldenProblem(golden);
    const pairs: LoraPair[] = p.modules.map((m, i) => makePair(m.module, A0[i]!, B0[i]!, p.scaling));
    const prod = () => pairs.map((q) => tf.tidy(() => tf.matMul(q.B, q.A).dataSync() as Float32Array));
    const before = prod();
    const opt = createOptimizer(cfg, pairs);
    for (let k = 0; k < steps; k++) {
      const { grads } = problem.grads(pairs);
      await opt.step(grads, 1e-2);
      tf.dispose(Object.values(grads));
    }
    const after = prod();
    opt.dispose();
    disposePairs(pairs);
    problem.dispose();
    return { before, after };
  };
  const x = await run(p.A0, p.B0);
  const y = await run(
    p.A0.map((A) => mm(A, Mfull, true)),
    p.B0.map((B) => mm(B, Minv, false)),
  );
  let num = 0;
  let den = 0;
  x.after.forEach((a, l) => {
    for (let i = 0; i < a.length; i++) {
      const d1 = a[i]! - x.before[l]![i]!;
      const d2 = y.after[l]![i]! - y.before[l]![i]!;
      num += (d1 - d2) ** 2;
      den += d1 ** 2;
    }
  });
  return Math.sqrt(num / den);
}

test("lora-rite is invariant to (A, B) → (M·A, B·M⁻¹); adamw is not", async () => {
  const rite = await reparamGap("lora-rite", 3);
  const adam = await reparamGap("adamw", 3);
  assert.ok(rite < 1e-4, `lora-rite: Δ(BA) differs by ${rite.toExponential(2)} between parametrisations`);
  assert.ok(adam > 0.05, `adamw should not be invariant, but the gap is only ${adam.toExponential(2)}`);
});

test("riemannian with δ = 0: scaled-GD directions and the tangent-projection closed form", async () => {
  const rng = new Rng(11);
  const r = 3;
  const n = 7;
  const m = 5;
  const s = 2;
  const rand = (rows: number, cols: number) =>
    Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal()));
  const A = rand(r, n);
  const B = rand(m, r);
  const Gd = rand(m, n); // G_Δ = ∂L/∂ΔW
  const pair = makePair("closed", A, B, s);
  const f64 = (X: number[][]) => Float64Array.from(X.flat());
  // G_A = s·BᵀG_Δ, G_B = s·G_Δ·Aᵀ
  const GA = tf.tidy(() => tf.mul(tf.matMul(tf.transpose(tf.tensor2d(B)), tf.tensor2d(Gd)), s));
  const GB = tf.tidy(() => tf.mul(tf.matMul(tf.tensor2d(Gd), tf.transpose(tf.tensor2d(A))), s));
  const grads = { [pair.A.name]: GA, [pair.B.name]: GB };
  const grams = await readGrams([pair]);
  const { gA, gB, stats } = tf.tidy(() => {
    const out = scaledGradients([pair], grads, grams, 0);
    return { gA: out.scaled[0]![0], gB: out.scaled[0]![1], stats: [out.stats.condMax, out.stats.fallbacks] };
  });
  // float64 closed form: g̃_A = (BᵀB)⁻¹ G_A, g̃_B = G_B (AAᵀ)⁻¹
  const Bm = f64(B);
  const Am = f64(A);
  const BtB = new Float64Array(r * r);
  const AAt = new Float64Array(r * r);
  for (let i = 0; i < r; i++)
    for (let j = 0; j < r; j++) {
      for (let k = 0; k < m; k++) BtB[i * r + j]! += Bm[k * r + i]! * Bm[k * r + j]!;
      for (let k = 0; k < n; k++) AAt[i * r + j]! += Am[i * n + k]! * Am[j * n + k]!;
    }
  const wantA = solve(BtB, Float64Array.from(GA.dataSync()), r, n);
  const GBt = Float64Array.from(transposeRect(GB.dataSync(), m, r)); // [r, m]
  const wantB = transposeRect(solve(transpose(AAt, r), GBt, r, m), r, m); // G_B·(AAᵀ)⁻¹ = ((AAᵀ)⁻ᵀ·G_Bᵀ)ᵀ
  assert.ok(relErr(gA.dataSync(), wantA) < 1e-5, "g̃_A = (BᵀB)⁻¹·G_A");
  assert.ok(relErr(gB.dataSync(), wantB) < 1e-5, "g̃_B = G_B·(AAᵀ)⁻¹");
  assert.equal(stats[1], 0, "no fallback for full-rank factors");
  // First-order weight change of one scaled-GD step: B·g̃_A + g̃_B·A = s·(Π_B·G_Δ + G_Δ·Π_A).
  const lhs = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(B), gA), tf.matMul(gB, tf.tensor2d(A))).dataSync());
  const PiB = tf.tidy(() => {
    const b = tf.tensor2d(B);
    return tf.matMul(tf.matMul(b, tf.tensor2d(Float32Array.from(inverse(BtB, r)), [r, r])), tf.transpose(b));
  });
  const PiA = tf.tidy(() => {
    const a = tf.tensor2d(A);
    return tf.matMul(tf.matMul(tf.transpose(a), tf.tensor2d(Float32Array.from(inverse(AAt, r)), [r, r])), a);
  });
  const rhs = tf.tidy(() =>
    tf.mul(tf.add(tf.matMul(PiB, tf.tensor2d(Gd)), tf.matMul(tf.tensor2d(Gd), PiA)), s).dataSync(),
  );
  assert.ok(relErr(lhs, rhs) < 1e-4, `tangent projection: ${relErr(lhs, rhs)}`);
  // δ = 0 at PEFT init (B = 0): no NaN, a counted fallback, and a zero direction for A.
  const zeroB = makePair(
    "zeroB",
    A,
    Array.from({ length: m }, () => Array(r).fill(0)),
    s,
  );
  const g0 = { [zeroB.A.name]: GA, [zeroB.B.name]: GB };
  const grams0 = await readGrams([zeroB]);
  const z = tf.tidy(() => {
    const out = scaledGradients([zeroB], g0, grams0, 0);
    return { a: out.scaled[0]![0], fallbacks: out.stats.fallbacks };
  });
  assert.ok(z.a.dataSync().every((v) => v === 0));
  assert.equal(z.fallbacks, 1);
  tf.dispose([GA, GB, gA, gB, PiA, PiB, z.a]);
  disposePairs([pair, zeroB]);
});

function transposeRect(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

/** Stable-LoRA on hand-made norms: zero gradients and lr = 0, so only the shrink moves A. */
async function stableRun(A: number[][], B: number[][], lambda: number, steps: number, stopCondition = true) {
  const pair = makePair("hand", A, B);
  const opt = createOptimizer(optimizerConfig("stable-lora", { lambda, weightDecay: 0, stopCondition }), [pair]);
  const grads = { [pair.A.name]: tf.zerosLike(pair.A), [pair.B.name]: tf.zerosLike(pair.B) };
  const log: { shrinking: number; stopStep: number | null; normA: number }[] = [];
  for (let k = 0; k < steps; k++) {
    const st = await opt.step(grads, 0);
    log.push({
      shrinking: st.scalars["stable/shrinking"]!,
      stopStep: st.modules!["hand"]!["stopStep"]!,
      normA: tf.tidy(() => tf.norm(pair.A).dataSync()[0]!),
    });
  }
  opt.dispose();
  tf.dispose(Object.values(grads));
  disposePairs([pair]);
  return log;
}

test("stable-lora stops exactly when ‖A‖ < (numel A/numel B)·‖B‖ first holds (pre-step norms), and never resumes", async () => {
  // A = ones [2, 4]: ‖A0‖ = √8 ≈ 2.828; B [4, 2] with ‖B‖ = 2.2; ratio = 8/8 = 1; λ = 0.1.
  // Test at step t sees ‖A‖ = 0.9^(t−1)·2.828: 2.828, 2.546, 2.291 (≥ 2.2: shrink), then 2.062 < 2.2 → stop at t = 4.
  const A = [
    [1, 1, 1, 1],
    [1, 1, 1, 1],
  ];
  const b = 2.2 / Math.sqrt(8);
  const B = [
    [b, b],
    [b, b],
    [b, b],
    [b, b],
  ];
  const log = await stableRun(A, B, 0.1, 8);
  assert.deepEqual(
    log.map((l) => l.stopStep),
    [null, null, null, 4, 4, 4, 4, 4],
  );
  assert.deepEqual(
    log.map((l) => l.shrinking),
    [1, 1, 1, 0, 0, 0, 0, 0],
  );
  const a3 = Math.sqrt(8) * 0.9 ** 3;
  for (const l of log.slice(2))
    assert.ok(Math.abs(l.normA - a3) < 1e-5, `A frozen at 0.9³·‖A0‖ after the stop: ${l.normA}`);
  // Strict '<': equality does not stop. ‖A‖ = 2 = 1·‖B‖ at step 1 → shrink; step 2: 1.8 < 2 → stop at 2.
  const eq = await stableRun([[1, 1, 1, 1]], [[1], [1], [1], [1]], 0.1, 3);
  assert.deepEqual(
    eq.map((l) => l.stopStep),
    [null, 2, 2],
  );
});

test("stable-lora with stopCondition = false (the paper's ablation) shrinks every step and never stops", async () => {
  const log = await stableRun([[1, 1, 1, 1]], [[1], [1], [1], [1]], 0.1, 6, false);
  assert.ok(log.every((l) => l.stopStep === null && l.shrinking === 1));
  assert.ok(Math.abs(log[5]!.normA - 2 * 0.9 ** 6) < 1e-5);
});

test("lora-rite is NaN-safe: a non-finite gradient matrix is skipped, the other factor still moves", async () => {
  const problem = new GoldenProblem(golden);
  const pairs = problem.pairs("random");
  const opt = createOptimizer(optimizerConfig("lora-rite", { eps: 1e-6, weightDecay: 0 }), pairs);
  const { grads } = problem.grads(pairs);
  const bad = tf.tidy(() =>
    tf.where(tf.onesLike(grads[pairs[0]!.A.name]!).cast("bool"), tf.fill(pairs[0]!.A.shape, NaN), 0),
  );
  const A0 = pairs[0]!.A.dataSync().slice();
  const B0 = pairs[0]!.B.dataSync().slice();
  const st = await opt.step({ ...grads, [pairs[0]!.A.name]: bad }, 1e-2);
  assert.equal(st.scalars["rite/nonfinite"], 1);
  assert.equal(st.scalars["rite/skipped"], 1);
  assert.ok(pairs.every((p) => p.A.dataSync().every(Number.isFinite) && p.B.dataSync().every(Number.isFinite)));
  assert.deepEqual(pairs[0]!.A.dataSync(), A0, "the skipped factor does not move (β̂1 = 0 at the first step, wd = 0)");
  assert.notDeepEqual(pairs[0]!.B.dataSync(), B0);
  tf.dispose([...Object.values(grads), bad]);
  opt.dispose();
  disposePairs(pairs);
  problem.dispose();
});
