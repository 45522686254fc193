import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_RUN_CONFIG,
  parseOverrides,
  resolveRunConfig,
  validateRunConfig,
  loraScaling,
  ConfigError,
} from "./config.ts";

test("defaults validate", () => {
  assert.deepEqual(validateRunConfig(DEFAULT_RUN_CONFIG), DEFAULT_RUN_CONFIG);
});

test("--set overrides: numbers, tuples, comma lists, booleans", () => {
  const c = resolveRunConfig(
    parseOverrides([
      "optimizer.lr=2e-4",
      "optimizer.betas=[0.8,0.99]",
      "lora.targets=q_proj,k_proj,v_proj",
      "train.shuffle=false",
      "train.schedule=cosine",
    ]),
  );
  assert.equal(c.optimizer.lr, 2e-4);
  assert.deepEqual(c.optimizer.betas, [0.8, 0.99]);
  assert.deepEqual(c.lora.targets, ["q_proj", "k_proj", "v_proj"]);
  assert.equal(c.train.shuffle, false);
  assert.equal(c.train.schedule, "cosine");
  assert.equal(c.lora.r, DEFAULT_RUN_CONFIG.lora.r);
});

test("unknown keys, wrong types and invalid values are errors naming the key", () => {
  assert.throws(
    () => parseOverrides(["optimizer.lrr=1"]),
    (e: Error) => e instanceof ConfigError && /unknown key "optimizer.lrr"/.test(e.message),
  );
  assert.throws(() => resolveRunConfig(parseOverrides(["optimizer.lr=abc"])), /optimizer\.lr/);
  assert.throws(() => resolveRunConfig(parseOverrides(["optimizer.lr=-1e-4"])), /optimizer\.lr/);
  assert.throws(() => resolveRunConfig(parseOverrides(["optimizer.lambda=1"])), /optimizer\.lambda/);
  assert.throws(() => resolveRunConfig(parseOverrides(["optimizer.betas=[0.9,1.0]"])), /optimizer\.betas/);
  assert.throws(() => resolveRunConfig(parseOverrides(["lora.targets=q_proj,foo"])), /lora\.targets/);
  assert.throws(() => resolveRunConfig(parseOverrides(["train.schedule=step"])), /train\.schedule/);
  assert.throws(() => resolveRunConfig({ train: { warmupSteps: 500, steps: 10 } }), /warmupSteps/);
  assert.throws(() => parseOverrides(["noequals"]), /key=value/);
});

test("scaling is alpha/r, or alpha/sqrt(r) with rsLoRA", () => {
  assert.equal(loraScaling({ alpha: 16, r: 8, rslora: false }), 2);
  assert.equal(loraScaling({ alpha: 16, r: 4, rslora: true }), 8);
});
