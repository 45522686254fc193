import { test } from "node:test";
import assert from "node:assert/strict";
import { spectrumFromGrams } from "./spectrum.ts";

// Hand case: A = [[1,0,0],[0,1,0]] (orthonormal rows), B = [[3,0],[0,1],[0,0]], s = 2 → ΔW = 2·diag(3,1,·): σ = 6, 2.
test("ΔW spectrum from r×r Gram matrices equals the hand-computed SVD", () => {
  const AAt = Float64Array.from([1, 0, 0, 1]);
  const BtB = Float64Array.from([9, 0, 0, 1]);
  const s = spectrumFromGrams(AAt, BtB, 2, 2);
  assert.ok(Math.abs(s.singularValues[0]! - 6) < 1e-12 && Math.abs(s.singularValues[1]! - 2) < 1e-12);
  assert.equal(s.spectralNorm, s.singularValues[0]);
  assert.ok(Math.abs(s.nuclearNorm - 8) < 1e-12);
  const p = [0.75, 0.25];
  assert.ok(Math.abs(s.effectiveRank - Math.exp(-(p[0]! * Math.log(p[0]!) + p[1]! * Math.log(p[1]!)))) < 1e-12);
});

test("non-orthogonal factors: σ² are the eigenvalues of (BA)(BA)ᵀ", () => {
  // A = [[1,1],[0,1]] (r=2,in=2), B = [[1,0],[2,1]] → BA = [[1,1],[2,3]]; σ² = eig([[2,5],[5,13]]) = (15 ± √221)/2
  const A = [
      [1, 1],
      [0, 1],
    ],
    B = [
      [1, 0],
      [2, 1],
    ];
  const AAt = Float64Array.from([2, 1, 1, 1]);
  const BtB = Float64Array.from([5, 2, 2, 1]);
  void A;
  void B;
  const s = spectrumFromGrams(AAt, BtB, 2, 1);
  const e = [(15 + Math.sqrt(221)) / 2, (15 - Math.sqrt(221)) / 2].map(Math.sqrt);
  assert.ok(Math.abs(s.singularValues[0]! - e[0]!) < 1e-10 && Math.abs(s.singularValues[1]! - e[1]!) < 1e-10);
});
