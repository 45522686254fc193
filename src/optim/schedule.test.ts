// lrAt against Hugging Face's get_{constant,linear,cosine}_schedule_with_warmup (values worked out by hand from
// transformers' lr_lambda formulas; step = the 0-based optimizer step).
import { test } from "node:test";
import assert from "node:assert/strict";
import { lrAt } from "./schedule.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test("linear: warmup from 0, then linear decay to 0 at totalSteps", () => {
  const s = { lr: 2, warmupSteps: 2, schedule: "linear" as const, totalSteps: 10 };
  const got = Array.from({ length: 12 }, (_, k) => lrAt(k, s));
  const want = [0, 1, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.25, 0, 0];
  got.forEach((g, i) => close(g, want[i]!));
});

test("cosine (half cycle): 1 at the end of warmup, 0.5 midway, 0 at the end", () => {
  const s = { lr: 1, warmupSteps: 4, schedule: "cosine" as const, totalSteps: 12 };
  close(lrAt(0, s), 0);
  close(lrAt(2, s), 0.5);
  close(lrAt(4, s), 1);
  close(lrAt(8, s), 0.5);
  close(lrAt(6, s), 0.5 * (1 + Math.cos(Math.PI * 0.25)));
  close(lrAt(12, s), 0);
});

test("constant: warmup then flat; no warmup means lr from the first step", () => {
  close(lrAt(0, { lr: 3e-4, warmupSteps: 0, schedule: "constant", totalSteps: 5 }), 3e-4);
  close(lrAt(1, { lr: 1, warmupSteps: 4, schedule: "constant", totalSteps: 5 }), 0.25);
  close(lrAt(100, { lr: 1, warmupSteps: 4, schedule: "constant", totalSteps: 5 }), 1);
  close(lrAt(0, { lr: 1, warmupSteps: 0, schedule: "linear", totalSteps: 4 }), 1);
});
