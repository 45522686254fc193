// Tests for the float64 r×r linear algebra (linalg.ts): reconstruction and orthogonality identities on seeded
// random matrices, pinv's Moore–Penrose conditions on a rank-deficient matrix, QR against its definition.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../util/rng.ts";
import {
  cholesky,
  identity,
  inverse,
  invSqrtSym,
  matmul,
  pinvSym,
  qr,
  solve,
  spectralMap,
  sym,
  symEig,
  transpose,
} from "./linalg.ts";

function randMat(rng: Rng, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows * cols }, () => rng.normal());
}
/** GᵀG + c·I for a random G: symmetric positive definite. */
function spd(rng: Rng, n: number, c = 0.1): Float64Array {
  const g = randMat(rng, n, n);
  const out = matmul(transpose(g, n), g, n);
  for (let i = 0; i < n; i++) out[i * n + i]! += c;
  return out;
}
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test("symEig: A = U·diag(w)·Uᵀ, UᵀU = I, ascending eigenvalues", () => {
  const rng = new Rng(1);
  for (const n of [1, 2, 4, 8, 16]) {
    const A = sym(randMat(rng, n, n), n);
    const e = symEig(A, n);
    assert.ok(
      maxAbsDiff(
        spectralMap(e, n, (w) => w),
        A,
      ) < 1e-12,
      `reconstruction n=${n}`,
    );
    assert.ok(maxAbsDiff(matmul(transpose(e.vectors, n), e.vectors, n), identity(n)) < 1e-12, `orthogonality n=${n}`);
    for (let i = 1; i < n; i++) assert.ok(e.values[i]! >= e.values[i - 1]!);
  }
  // A diagonal matrix: eigenvalues are the diagonal.
  const d = symEig(Float64Array.from([3, 0, 0, -1]), 2);
  assert.deepEqual(Array.from(d.values), [-1, 3]);
});

test("cholesky, solve, inverse", () => {
  const rng = new Rng(2);
  const n = 6;
  const A = spd(rng, n);
  const L = cholesky(A, n)!;
  assert.ok(maxAbsDiff(matmul(L, transpose(L, n), n), A) < 1e-12);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(L[i * n + j], 0);
  assert.equal(cholesky(Float64Array.from([1, 2, 2, 1]), 2), null, "indefinite → null");
  const G = randMat(rng, n, n);
  assert.ok(maxAbsDiff(matmul(G, inverse(G, n), n), identity(n)) < 1e-10);
  const b = randMat(rng, n, 3);
  const x = solve(G, b, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += G[i * n + k]! * x[k * 3 + j]!;
      assert.ok(Math.abs(s - b[i * 3 + j]!) < 1e-10);
    }
  assert.throws(() => inverse(new Float64Array(4), 2), /singular/);
});

test("invSqrtSym: K·V·K = I for SPD V (eps = 0); clamps negative eigenvalues", () => {
  const rng = new Rng(3);
  const n = 5;
  const V = spd(rng, n, 0.5);
  const K = invSqrtSym(V, n, 0);
  assert.ok(maxAbsDiff(matmul(matmul(K, V, n), K, n), identity(n)) < 1e-10);
  // eps is added to √w, not under the root; shift is added under the root.
  const D = Float64Array.from([4, 0, 0, 9]);
  assert.ok(maxAbsDiff(invSqrtSym(D, 2, 1), [1 / 3, 0, 0, 1 / 4]) < 1e-15);
  assert.ok(maxAbsDiff(invSqrtSym(D, 2, 0, 5), [1 / 3, 0, 0, 1 / Math.sqrt(14)]) < 1e-15);
  const neg = invSqrtSym(Float64Array.from([-1e-9, 0, 0, 1]), 2, 1e-6);
  assert.ok(neg.every(Number.isFinite));
  assert.ok(Math.abs(neg[0]! - 1e6) < 1e-3, "a negative eigenvalue is clamped to 0, giving 1/ε");
});

test("pinvSym: Moore–Penrose conditions on a rank-deficient matrix; counts the cut eigenvalues", () => {
  const rng = new Rng(4);
  const n = 6;
  const g = randMat(rng, 3, n); // rank 3
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) for (let k = 0; k < 3; k++) A[i * n + j]! += g[k * n + i]! * g[k * n + j]!;
  const { inv, cut, cond } = pinvSym(A, n, 1e-10);
  assert.equal(cut, 3);
  assert.ok(cond > 1e10);
  assert.ok(maxAbsDiff(matmul(matmul(A, inv, n), A, n), A) < 1e-10, "A·A⁺·A = A");
  assert.ok(maxAbsDiff(matmul(matmul(inv, A, n), inv, n), inv) < 1e-8, "A⁺·A·A⁺ = A⁺");
  const full = spd(rng, n);
  const p = pinvSym(full, n, 1e-10);
  assert.equal(p.cut, 0);
  assert.ok(maxAbsDiff(p.inv, inverse(full, n)) < 1e-9);
  assert.deepEqual(Array.from(pinvSym(new Float64Array(4), 2, 1e-6).inv), [0, 0, 0, 0], "pinv(0) = 0");
});

test("qr: A = Q·R, QᵀQ = I, R upper triangular", () => {
  const rng = new Rng(5);
  const rows = 9;
  const cols = 4;
  const A = randMat(rng, rows, cols);
  const { Q, R } = qr(A, rows, cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let k = 0; k < cols; k++) s += Q[i * cols + k]! * R[k * cols + j]!;
      assert.ok(Math.abs(s - A[i * cols + j]!) < 1e-12);
    }
  for (let a = 0; a < cols; a++)
    for (let b = 0; b < cols; b++) {
      let s = 0;
      for (let i = 0; i < rows; i++) s += Q[i * cols + a]! * Q[i * cols + b]!;
      assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-12);
    }
  for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) assert.equal(R[i * cols + j], 0);
  assert.throws(() => qr(A, 2, 4), /rows ≥ cols/);
});
