// The factory and the contract every optimizer shares: config validation, explicit pairing errors, bit-identical
// resume through getState/setState (incl. a JSON round trip of the state's json part), no tensor leaks over 100
// steps, and the micro-benchmark.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { ConfigError, OptimizerConfigSchema, parseOverrides, resolveRunConfig } from "../config.ts";
import { benchOptimizerStep } from "./bench.ts";
import { createOptimizer } from "./index.ts";
import { GoldenProblem, disposePairs, loadGolden, makePair, optimizerConfig } from "./testing.ts";
import type { LoraPair } from "../lora/pair.ts";
import { OPTIMIZER_NAMES, type OptimizerName, type OptimizerState } from "./types.ts";

const golden = loadGolden();

before(async () => {
  await initBackend("wasm");
});

/** Settings under which every optimizer does all of its work (RITE clipping on, Stable-LoRA stops mid-run). */
function busyConfig(name: OptimizerName) {
  return optimizerConfig(name, {
    weightDecay: 0.01,
    lambda: 0.12,
    lrRatio: 4,
    eps: name === "lora-rite" ? 1e-6 : 1e-8,
    clipUnmagnifiedGrad: 0.5,
    applyEscape: true,
  });
}

test("config: negative lr, λ ≥ 1 and betas outside [0, 1) are errors naming the field", () => {
  const bad: [string, RegExp][] = [
    ["optimizer.lr=-1e-4", /optimizer\.lr/],
    ["optimizer.lr=0", /optimizer\.lr/],
    ["optimizer.lambda=1", /optimizer\.lambda/],
    ["optimizer.lambda=1.5", /optimizer\.lambda/],
    ["optimizer.lambda=-0.1", /optimizer\.lambda/],
    ["optimizer.betas=[0.9,1]", /optimizer\.betas/],
    ["optimizer.betas=[-0.1,0.999]", /optimizer\.betas/],
    ["optimizer.name=sgd", /optimizer\.name/],
    ["optimizer.applyEscape=1", /optimizer\.applyEscape/],
  ];
  // Range checks on the optimizer that has the setting (λ: Stable-LoRA, applyEscape: LoRA-RITE).
  const owner = (kv: string) =>
    kv.includes("lambda")
      ? ["optimizer.name=stable-lora"]
      : kv.includes("applyEscape")
        ? ["optimizer.name=lora-rite"]
        : [];
  for (const [kv, re] of bad)
    assert.throws(
      () => resolveRunConfig(parseOverrides([...owner(kv), kv])),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
      kv,
    );
  // Each optimizer has its own settings: λ is Stable-LoRA's; on any other optimizer it is an error naming it.
  for (const name of OPTIMIZER_NAMES) {
    const set = parseOverrides([`optimizer.name=${name}`, "optimizer.lambda=0.002"]);
    if (name === "stable-lora") assert.equal(resolveRunConfig(set).optimizer.name, name);
    else
      assert.throws(
        () => resolveRunConfig(set),
        new RegExp(`optimizer ${name} has no setting optimizer\\.lambda \\(its settings: lr, weightDecay, betas, eps`),
      );
  }
  assert.equal(
    OptimizerConfigSchema.safeParse({ ...optimizerConfig("adamw"), betas: [0, 0] }).success,
    true,
    "β = 0 is allowed",
  );
});

test("factory: every name builds; bad pairs and missing gradients are clear errors", async () => {
  const p = makePair("m", [[1, 2, 3]], [[1], [2]]);
  for (const name of OPTIMIZER_NAMES) createOptimizer(optimizerConfig(name), [p]).dispose();
  assert.throws(() => createOptimizer(optimizerConfig("adamw"), []), /no LoRA pairs/);
  const wrong: LoraPair = { ...p, inDim: 4 };
  assert.throws(
    () => createOptimizer(optimizerConfig("stable-lora"), [wrong]),
    /A has shape \[1,3\], expected \[r=1, in=4\]/,
  );
  assert.throws(() => createOptimizer(optimizerConfig("adamw"), [p, p]), /appears in more than one pair/);
  for (const name of OPTIMIZER_NAMES) {
    const opt = createOptimizer(optimizerConfig(name), [p]);
    const g = { [p.A.name]: tf.zerosLike(p.A) };
    await assert.rejects(
      () => opt.step(g, 1e-3),
      new RegExp(`no gradient for "${p.B.name.replace(/[.#]/g, "\\$&")}"`),
      name,
    );
    tf.dispose(Object.values(g));
    opt.dispose();
  }
  disposePairs([p]);
});

for (const name of OPTIMIZER_NAMES) {
  test(`${name}: 3 steps + save + restore into a fresh optimizer + 3 steps ≡ 6 straight steps (bit-identical)`, async () => {
    const cfg = busyConfig(name);
    const lr = (k: number) => 1e-2 * (1 - 0.1 * k);
    const problem = new GoldenProblem(golden);
    const stepOnce = async (opt: ReturnType<typeof createOptimizer>, pairs: LoraPair[], k: number) => {
      const { grads } = problem.grads(pairs);
      const st = await opt.step(grads, lr(k));
      tf.dispose(Object.values(grads));
      return st;
    };
    // Straight run.
    const straight = problem.pairs("random");
    const o1 = createOptimizer(cfg, straight);
    const statsStraight = [];
    for (let k = 0; k < 6; k++) statsStraight.push(await stepOnce(o1, straight, k));
    const want = straight.map((p) => [p.A.dataSync(), p.B.dataSync()]);
    o1.dispose();
    disposePairs(straight);

    // Split run, resumed under the same variable names (as a new process would create them).
    const first = problem.pairs("random");
    const o2 = createOptimizer(cfg, first);
    for (let k = 0; k < 3; k++) await stepOnce(o2, first, k);
    const saved: OptimizerState = o2.getState();
    const state: OptimizerState = { tensors: saved.tensors, json: JSON.parse(JSON.stringify(saved.json)) };
    const values = first.map((p) => ({
      module: p.module,
      A: tf.clone(p.A) as tf.Tensor2D,
      B: tf.clone(p.B) as tf.Tensor2D,
      names: [p.A.name, p.B.name],
    }));
    o2.dispose();
    disposePairs(first);
    const resumed = values.map((v) =>
      makePair(v.module, v.A, v.B, golden.problem.scaling, v.names[0]!.split("#")[1]!.split(".")[0]),
    );
    const o3 = createOptimizer(cfg, resumed);
    o3.setState(state);
    tf.dispose(Object.values(state.tensors));
    tf.dispose(values.flatMap((v) => [v.A, v.B]));
    const statsResumed = [];
    for (let k = 3; k < 6; k++) statsResumed.push(await stepOnce(o3, resumed, k));
    resumed.forEach((p, i) => {
      assert.deepEqual(p.A.dataSync(), want[i]![0], `${name} ${p.module}.A after resume`);
      assert.deepEqual(p.B.dataSync(), want[i]![1], `${name} ${p.module}.B after resume`);
    });
    assert.deepEqual(statsResumed, statsStraight.slice(3), `${name}: stats after resume`);
    o3.dispose();
    disposePairs(resumed);
    problem.dispose();
  });
}

test("setState rejects a state written for other pairs", () => {
  const a = makePair("m1", [[1, 2, 3]], [[1], [2]]);
  const b = makePair("m2", [[1, 2, 3]], [[1], [2]]);
  for (const name of OPTIMIZER_NAMES) {
    const oa = createOptimizer(optimizerConfig(name), [a]);
    const ob = createOptimizer(optimizerConfig(name), [b]);
    const s = oa.getState();
    assert.throws(() => ob.setState(s), /setState/, name);
    tf.dispose(Object.values(s.tensors));
    oa.dispose();
    ob.dispose();
  }
  disposePairs([a, b]);
});

test("no tensor leaks: 100 steps keep numTensors constant; dispose returns to the baseline", async () => {
  const problem = new GoldenProblem(golden);
  const pairs = problem.pairs("random");
  const { grads } = problem.grads(pairs);
  for (const name of OPTIMIZER_NAMES) {
    const base = tf.memory().numTensors;
    const opt = createOptimizer(busyConfig(name), pairs);
    await opt.step(grads, 1e-3);
    const afterFirst = tf.memory().numTensors;
    for (let k = 1; k < 100; k++) {
      await opt.step(grads, 1e-3);
      assert.equal(tf.memory().numTensors, afterFirst, `${name}: step ${k + 1} changed numTensors`);
    }
    const s = opt.getState();
    tf.dispose(Object.values(s.tensors));
    assert.equal(tf.memory().numTensors, afterFirst, `${name}: getState leaked`);
    opt.dispose();
    assert.equal(tf.memory().numTensors, base, `${name}: dispose did not return to the baseline`);
  }
  tf.dispose(Object.values(grads));
  disposePairs(pairs);
  problem.dispose();
});

test("benchOptimizerStep: median ms for each optimizer, variables restored, no leaks", async () => {
  const pairs = [0, 1].map((i) => {
    const A = tf.randomNormal([4, 64], 0, 0.1, "float32", i) as tf.Tensor2D;
    const B = tf.randomNormal([48, 4], 0, 0.1, "float32", 10 + i) as tf.Tensor2D;
    const p = makePair(`bench${i}`, A, B);
    tf.dispose([A, B]);
    return p;
  });
  const before = pairs.map((p) => p.A.dataSync().slice());
  const base = tf.memory().numTensors;
  for (const name of OPTIMIZER_NAMES) {
    const r = await benchOptimizerStep(name, pairs, 3);
    assert.equal(r.name, name);
    assert.equal(r.samplesMs.length, 3);
    assert.ok(r.medianMs > 0 && Number.isFinite(r.medianMs), `${name}: ${r.medianMs}`);
  }
  assert.equal(tf.memory().numTensors, base);
  pairs.forEach((p, i) => assert.deepEqual(p.A.dataSync(), before[i]));
  disposePairs(pairs);
});
