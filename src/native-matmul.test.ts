// The native BatchMatMul (src/native-matmul.ts, addon native/lora-lab-matmul) against tfjs-wasm's own kernel on seeded
// random shapes: 2-D and batched (rank 3–4, batch-1 broadcast on either side), all four transpose combinations, values
// and gradients (relative error ≤ 1e-5 of the max |value|), tensor counts, the LORA_LAB_NATIVE_MATMUL=0 switch and the
// addon's bounds checks. Skips when the optional addon was not built (npm drops it where node-gyp fails).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "./backend.ts";
import { disableNativeMatmul, enableNativeMatmul, loadMatmulAddon, nativeMatmulActive } from "./native-matmul.ts";
import { Rng } from "./util/rng.ts";

const addon = loadMatmulAddon();
const skip = typeof addon === "string" ? `optional addon not built: ${addon}` : false;

function randn(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return tf.tensor(v, shape);
}

/** max|x − y| / max|y|. */
function relErr(x: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(x, y))).dataSync()[0]! / Math.max(1e-30, tf.max(tf.abs(y)).dataSync()[0]!));
}

/** Runs f with the original wasm kernel, then restores the native one. */
function withWasmKernel<T>(f: () => T): T {
  assert.ok(disableNativeMatmul(), "native kernel was not active");
  try {
    return f();
  } finally {
    assert.ok(enableNativeMatmul().active);
  }
}

interface Case {
  a: number[]; // stored shape of A
  b: number[];
  tA: boolean;
  tB: boolean;
}

/** Random shapes: M, N, K in 1..80 (sometimes > 256 for K, to cross the KC block), batches of rank 0–2. */
function randomCases(rng: Rng, n: number): Case[] {
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const M = 1 + rng.int(80);
    const N = 1 + rng.int(80);
    const K = rng.uniform() < 0.2 ? 250 + rng.int(300) : 1 + rng.int(80);
    const tA = rng.int(2) === 1;
    const tB = rng.int(2) === 1;
    const batch = [[], [3], [2, 3]][rng.int(3)]!;
    // batch-1 broadcast on one side, or the same batch on both
    const mode = rng.int(3);
    const bA = batch.length === 0 ? [] : mode === 1 ? batch.map(() => 1) : batch;
    const bB = batch.length === 0 ? [] : mode === 2 ? batch.map(() => 1) : batch;
    out.push({ a: [...bA, ...(tA ? [K, M] : [M, K])], b: [...bB, ...(tB ? [N, K] : [K, N])], tA, tB });
  }
  // the model's shapes: LoRA mid (N = r), transposed dA, attention scores and P·V
  out.push({ a: [1024, 256], b: [256, 8], tA: false, tB: false });
  out.push({ a: [256, 300], b: [256, 688], tA: true, tB: false });
  out.push({ a: [2, 4, 64, 32], b: [2, 4, 64, 32], tA: false, tB: true });
  out.push({ a: [2, 4, 64, 64], b: [2, 4, 64, 32], tA: false, tB: false });
  out.push({ a: [4, 1, 7, 5], b: [5, 9], tA: false, tB: false }); // rank-4 × rank-2 broadcast
  out.push({ a: [0, 5], b: [5, 3], tA: false, tB: false }); // empty M
  out.push({ a: [4, 0], b: [0, 3], tA: false, tB: false }); // K = 0: zeros
  return out;
}

test("native BatchMatMul matches the wasm kernel on random shapes, transposes and batches", { skip }, async () => {
  await initBackend("wasm");
  assert.ok(enableNativeMatmul().active);
  const base = tf.memory().numTensors;
  const rng = Rng.derive(7, "native-matmul-test");
  for (const c of randomCases(rng, 60)) {
    tf.tidy(() => {
      const a = randn(rng, c.a);
      const b = randn(rng, c.b);
      const got = tf.matMul(a, b, c.tA, c.tB);
      const what = `A ${JSON.stringify(c.a)} tA=${c.tA}, B ${JSON.stringify(c.b)} tB=${c.tB}`;
      if (a.size === 0 || b.size === 0) {
        // K = 0 is a zero matrix (the wasm kernel's XNNPACK path fails on it and returns uninitialised memory)
        assert.ok(
          got.dataSync().every((v) => v === 0),
          what,
        );
        return;
      }
      const want = withWasmKernel(() => tf.matMul(a, b, c.tA, c.tB));
      assert.deepEqual(got.shape, want.shape, what);
      const err = relErr(got, want);
      assert.ok(err <= 1e-5, `${what}: relative error ${err}`);
    });
  }
  assert.equal(tf.memory().numTensors, base);
});

test("gradients through the native kernel match the wasm kernel's", { skip }, async () => {
  await initBackend("wasm");
  assert.ok(enableNativeMatmul().active);
  const base = tf.memory().numTensors;
  const rng = Rng.derive(8, "native-matmul-grad");
  const cases: Case[] = [
    { a: [37, 53], b: [53, 29], tA: false, tB: false },
    { a: [53, 37], b: [29, 53], tA: true, tB: true },
    { a: [3, 20, 16], b: [3, 20, 24], tA: true, tB: false },
    { a: [2, 2, 40, 16], b: [2, 2, 40, 16], tA: false, tB: true },
    // (no batch-broadcast case: tfjs-core's BatchMatMul gradient does not reduce over broadcast batch axes)
  ];
  for (const c of cases) {
    tf.tidy(() => {
      const a = randn(rng, c.a);
      const b = randn(rng, c.b);
      const outShape = tf.matMul(a, b, c.tA, c.tB).shape;
      const w = randn(rng, outShape); // a random cotangent
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, c.tA, c.tB), w));
      const [ga, gb] = tf.grads(f)([a, b]);
      const [wa, wb] = withWasmKernel(() => tf.grads(f)([a, b]));
      const what = `A ${JSON.stringify(c.a)} tA=${c.tA}, B ${JSON.stringify(c.b)} tB=${c.tB}`;
      assert.deepEqual(ga!.shape, c.a, what);
      assert.deepEqual(gb!.shape, c.b, what);
      assert.ok(relErr(ga!, wa!) <= 1e-5, `${what}: dA relative error ${relErr(ga!, wa!)}`);
      assert.ok(relErr(gb!, wb!) <= 1e-5, `${what}: dB relative error ${relErr(gb!, wb!)}`);
    });
  }
  assert.equal(tf.memory().numTensors, base);
});

test("a product whose output forces the wasm heap to grow reads the new heap", { skip }, async () => {
  await initBackend("wasm");
  assert.ok(enableNativeMatmul().active);
  tf.tidy(() => {
    const rng = Rng.derive(9, "native-matmul-grow");
    const a = randn(rng, [2048, 4]);
    const b = randn(rng, [4, 2048]);
    const got = tf.matMul(a, b); // 16 MiB output, allocated after the inputs
    const want = withWasmKernel(() => tf.matMul(a, b));
    assert.ok(relErr(got, want) <= 1e-5);
  });
});

test("LORA_LAB_NATIVE_MATMUL=0 keeps the wasm kernel, and initBackend reports the native one", { skip }, async () => {
  const info = await initBackend("wasm");
  assert.ok(enableNativeMatmul().active);
  assert.match(info.detail, /native matmul \((avx2\+fma|portable), \d+ threads?\)/);
  disableNativeMatmul();
  const saved = process.env.LORA_LAB_NATIVE_MATMUL;
  process.env.LORA_LAB_NATIVE_MATMUL = "0";
  try {
    const s = enableNativeMatmul();
    assert.equal(s.active, false);
    assert.equal(s.detail, "LORA_LAB_NATIVE_MATMUL=0");
    assert.equal(nativeMatmulActive(), false);
  } finally {
    if (saved === undefined) delete process.env.LORA_LAB_NATIVE_MATMUL;
    else process.env.LORA_LAB_NATIVE_MATMUL = saved;
  }
  assert.ok(enableNativeMatmul().active);
});

test("the addon refuses operands outside the heap instead of reading past it", { skip }, () => {
  const m = loadMatmulAddon();
  assert.ok(typeof m !== "string");
  const heap = new ArrayBuffer(4 * 100);
  // A [5,5] at 0, B [5,5] at 100, C [5,5] at 200: fits (300 of 400 bytes)
  m.sgemm(heap, 0, 100, 200, 1, 1, 5, 5, 5, false, false, 1);
  assert.throws(() => m.sgemm(heap, 0, 100, 300, 2, 1, 5, 5, 5, false, false, 1), /outside the heap/);
  assert.throws(() => m.sgemm(heap, 2, 100, 200, 1, 1, 5, 5, 5, false, false, 1), /multiples of 4/);
  assert.throws(() => (m.sgemm as (...a: unknown[]) => void)(heap, 0, 100), /12 or 13 arguments/);
});

test(
  "products of ≤ 4 rows (decoding) follow their stated summation order bit for bit, whichever SIMD clone runs",
  {
    skip,
  },
  () => {
    if (typeof addon === "string") return;
    // native/lora-lab-matmul/src/matmul.cc gemmSmallM: row-major B → C[j] = Σ_k a_k·B[k, j] in k order; transposed B
    // → 8 partial sums (lane u takes k ≡ u mod 8), combined ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)), then the tail; with
    // accumulate, C + (that sum). The AVX2 and baseline builds must both give exactly this.
    const f = Math.fround;
    const rng = new Rng(11);
    for (const [M, N, K, tB, acc] of [
      [1, 37, 29, false, false],
      [3, 70, 64, false, true],
      [1, 45, 61, true, false],
      [4, 33, 100, true, true],
    ] as const) {
      const heap = new ArrayBuffer(4 * (M * K + K * N + 2 * M * N));
      const A = new Float32Array(heap, 0, M * K),
        B = new Float32Array(heap, 4 * M * K, K * N),
        C = new Float32Array(heap, 4 * (M * K + K * N), M * N);
      for (const x of [A, B, C]) for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      const want = Float32Array.from(C);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let v: number;
          if (!tB) {
            v = 0;
            for (let k = 0; k < K; k++) v = f(v + f(A[i * K + k]! * B[k * N + j]!));
          } else {
            const s = new Array<number>(8).fill(0);
            let k = 0;
            for (; k + 8 <= K; k += 8)
              for (let u = 0; u < 8; u++) s[u] = f(s[u]! + f(A[i * K + k + u]! * B[j * K + k + u]!));
            for (; k < K; k++) s[0] = f(s[0]! + f(A[i * K + k]! * B[j * K + k]!));
            v = f(f(f(s[0]! + s[1]!) + f(s[2]! + s[3]!)) + f(f(s[4]! + s[5]!) + f(s[6]! + s[7]!)));
          }
          want[i * N + j] = acc ? f(want[i * N + j]! + v) : v;
        }
      addon.sgemm(heap, 0, 4 * M * K, 4 * (M * K + K * N), 1, 1, M, N, K, false, tB, 1, acc);
      for (let i = 0; i < M * N; i++)
        if (!Object.is(C[i], want[i]))
          assert.fail(`M ${M} N ${N} K ${K} tB ${tB} acc ${acc}: [${i}] ${C[i]} vs ${want[i]}`);
    }
  },
);

test(
  "a transposed B with few rows (the operand-swapped path) gives bit for bit what the same B stored row-major gives",
  { skip },
  () => {
    if (typeof addon === "string") return;
    // matmul.cc swapOperands: for few rows (M ≤ 256, K ≥ 2.5·M − 100) and op(B) = stored Bᵀ it computes
    // Cᵀ = op(B)ᵀ·op(A)ᵀ, which keeps each element's FMA chain over k; the row-major B takes the normal packed path.
    // The swapped shapes cross partial MR/NR tiles, K > KC (256), accumulate, transposed A and a two-thread split
    // over N; [64, 96] on two threads (M ≥ each thread's N) and [600, 50] take the normal path on both sides.
    const rng = new Rng(12);
    for (const [M, N, K, tA, acc, threads] of [
      [5, 40, 64, false, false, 1],
      [7, 33, 300, false, true, 1],
      [37, 70, 96, true, false, 1],
      [90, 300, 600, false, true, 2],
      [64, 96, 257, true, true, 2],
      [130, 300, 600, false, true, 2],
      [600, 50, 40, false, false, 2],
    ] as const) {
      const sizes = [M * K, K * N, K * N, M * N, M * N];
      const heap = new ArrayBuffer(4 * sizes.reduce((a, b) => a + b));
      const offsets = sizes.map((_, i) => 4 * sizes.slice(0, i).reduce((a, b) => a + b, 0));
      const [A, B, Bt, C1, C2] = sizes.map((n, i) => new Float32Array(heap, offsets[i], n)) as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      for (const x of [A, B, C1]) for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) Bt[j * K + k] = B[k * N + j]!;
      C2.set(C1);
      const before = Float64Array.from(C1);
      const [a, b, bt, c1, c2] = offsets as [number, number, number, number, number];
      addon.sgemm(heap, a, b, c1, 1, 1, M, N, K, tA, false, threads, acc);
      addon.sgemm(heap, a, bt, c2, 1, 1, M, N, K, tA, true, threads, acc);
      const what = `M ${M} N ${N} K ${K} tA ${tA} acc ${acc} threads ${threads}`;
      for (let i = 0; i < M * N; i++) if (!Object.is(C1[i], C2[i])) assert.fail(`${what}: [${i}] ${C2[i]} vs ${C1[i]}`);
      // and both are the product (float64 reference), so a shared indexing error cannot pass
      for (const i of [0, N - 1, (M - 1) * N, M * N - 1, Math.floor((M * N) / 2)]) {
        const r = Math.floor(i / N),
          j = i % N;
        let v = acc ? before[i]! : 0;
        for (let k = 0; k < K; k++) v += A[tA ? k * M + r : r * K + k]! * B[k * N + j]!;
        assert.ok(Math.abs(C2[i]! - v) <= 1e-4 * Math.sqrt(K), `${what}: [${r}, ${j}] ${C2[i]} vs ${v}`);
      }
    }
  },
);
