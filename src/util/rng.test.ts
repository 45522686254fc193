import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "./rng.ts";

test("same seed gives the same stream, different seeds differ", () => {
  const a = new Rng(1),
    b = new Rng(1),
    c = new Rng(2);
  const xa = Array.from({ length: 5 }, () => a.nextU32());
  const xb = Array.from({ length: 5 }, () => b.nextU32());
  const xc = Array.from({ length: 5 }, () => c.nextU32());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
});

test("state round-trips: a restored RNG continues identically", () => {
  const a = new Rng(7);
  for (let i = 0; i < 10; i++) a.uniform();
  const saved = JSON.parse(JSON.stringify(a.state()));
  const next = [a.uniform(), a.normal(), a.int(10)];
  const b = new Rng(0);
  b.setState(saved);
  assert.deepEqual([b.uniform(), b.normal(), b.int(10)], next);
});

test("uniform has the right mean and range; normal has unit variance", () => {
  const r = new Rng(3);
  let sum = 0,
    min = 1,
    max = 0;
  for (let i = 0; i < 20000; i++) {
    const u = r.uniform();
    sum += u;
    min = Math.min(min, u);
    max = Math.max(max, u);
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01);
  assert.ok(min >= 0 && max < 1);
  let s2 = 0;
  for (let i = 0; i < 20000; i++) s2 += r.normal() ** 2;
  assert.ok(Math.abs(s2 / 20000 - 1) < 0.05);
});

test("permutation is a permutation", () => {
  const p = new Rng(5).permutation(100);
  assert.deepEqual(
    [...p].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
});
