// Statistics helpers against hand-computed values and published t tables (e.g. NIST/Student t, two-sided 95%).
import { test } from "node:test";
import assert from "node:assert/strict";
import { geometricMean, linearFit, mean, meanCI, median, sampleStd, tCdf, tQuantile } from "./stats.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test("mean, sample std (n − 1), median, geometric mean", () => {
  // [2, 4, 4, 4, 5, 5, 7, 9]: mean 5, Σ(x−5)² = 32, sample var = 32/7.
  const xs = [2, 4, 4, 4, 5, 5, 7, 9];
  assert.equal(mean(xs), 5);
  close(sampleStd(xs), Math.sqrt(32 / 7), 1e-12, "std");
  assert.equal(median(xs), 4.5);
  assert.equal(median([3, 1, 2]), 2);
  assert.ok(Number.isNaN(sampleStd([1])), "std of one value is undefined");
  close(geometricMean([1, 100]), 10, 1e-12, "geomean");
});

test("t quantiles match the t table", () => {
  // Two-sided 95% critical values t(0.975, df).
  const table: [number, number][] = [
    [1, 12.7062],
    [2, 4.3027],
    [3, 3.1824],
    [4, 2.7764],
    [9, 2.2622],
    [10, 2.2281],
    [30, 2.0423],
    [1000, 1.9623],
  ];
  for (const [df, t] of table) close(tQuantile(0.975, df), t, 5e-4, `t(0.975, ${df})`);
  close(tQuantile(0.995, 5), 4.0321, 5e-4, "t(0.995, 5)");
  close(tQuantile(0.025, 3), -3.1824, 5e-4, "lower tail");
  close(tCdf(0, 7), 0.5, 1e-12, "cdf(0)");
  close(tCdf(tQuantile(0.9, 6), 6), 0.9, 1e-9, "cdf ∘ quantile");
});

test("meanCI: mean ± t·s/√n, by hand", () => {
  // diffs [1, 2, 3]: mean 2, s = 1, n = 3, t(0.975, 2) = 4.302653 → half-width 4.302653/√3 = 2.484138.
  const ci = meanCI([1, 2, 3]);
  assert.equal(ci.n, 3);
  close(ci.mean, 2, 1e-12, "mean");
  close(ci.std, 1, 1e-12, "std");
  close(ci.lo, 2 - 2.484138, 1e-5, "lo");
  close(ci.hi, 2 + 2.484138, 1e-5, "hi");
  const one = meanCI([5]);
  assert.ok(Number.isNaN(one.lo) && Number.isNaN(one.hi), "no interval from one value");
});

test("linearFit recovers a line", () => {
  const f = linearFit([0, 1, 2, 3], [1, 3, 5, 7]);
  close(f.slope, 2, 1e-12, "slope");
  close(f.intercept, 1, 1e-12, "intercept");
});
