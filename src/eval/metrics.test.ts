// Metric unit tests with numbers worked out by hand: acc vs acc_norm (lm-eval divides the log-prob by the choice's
// character length, without the target delimiter), np.argmax tie-breaking, and lm-eval's mean_stderr.
import { test } from "node:test";
import assert from "node:assert/strict";
import { aggregate, argmax, bootstrapStderr, meanStderr, sampleStddev, scoreChoices } from "./metrics.ts";
import { Rng } from "../util/rng.ts";

test("acc and acc_norm disagree when a long choice has the larger total but smaller per-character log-prob", () => {
  // choice 0 "cat" (3 chars): lp −3 → −1.0/char; choice 1 "a big dog" (9 chars): lp −4.5 → −0.5/char.
  const s = scoreChoices([-3, -4.5], ["cat", "a big dog"], 1);
  assert.equal(s.pred, 0); // acc picks the higher sum
  assert.equal(s.predNorm, 1); // acc_norm picks the higher per-character
  assert.equal(s.acc, 0);
  assert.equal(s.accNorm, 1);
  // The target delimiter is not counted: "ab" −1.2/2 = −0.6 vs "abcd" −2.0/4 = −0.5 → 1. Counting the leading
  // space would give −1.2/3 = −0.4 vs −2.0/5 = −0.4, a tie that goes to 0.
  const t = scoreChoices([-1.2, -2.0], ["ab", "abcd"], 1);
  assert.equal(t.predNorm, 1);
});

test("argmax takes the first maximum (np.argmax) and ignores NaN", () => {
  assert.equal(argmax([-1, -1, -2]), 0);
  assert.equal(argmax([-2, -1, -1]), 1);
  assert.equal(argmax([NaN, -5, -3]), 2);
  assert.throws(() => scoreChoices([-1, -2], ["a", "b"], 2), /out of range/);
});

test("stderr is lm-eval's mean_stderr: sqrt(p(1-p)/(n-1)) for 0/1 scores", () => {
  const xs = [1, 0, 1, 1, 0, 0, 1, 1]; // p = 5/8, n = 8
  const p = 5 / 8;
  assert.ok(Math.abs(meanStderr(xs) - Math.sqrt((p * (1 - p)) / 7)) < 1e-15);
  // sample stddev of [2, 4, 4, 4, 5, 5, 7, 9]: mean 5, sum sq 32, /7
  assert.ok(Math.abs(sampleStddev([2, 4, 4, 4, 5, 5, 7, 9]) - Math.sqrt(32 / 7)) < 1e-15);
  assert.ok(Number.isNaN(meanStderr([1])));
  assert.deepEqual(aggregate("acc", "none", [1, 0, 1, 0]), { "acc,none": 0.5, "acc_stderr,none": Math.sqrt(0.25 / 3) });
});

test("bootstrap stderr is close to the analytic one", () => {
  const xs = Array.from({ length: 400 }, (_, i) => (i % 10 < 3 ? 1 : 0)); // p = 0.3
  const b = bootstrapStderr(xs, 2000, new Rng(0));
  const a = meanStderr(xs);
  assert.ok(Math.abs(b - a) / a < 0.1, `bootstrap ${b} vs analytic ${a}`);
});
