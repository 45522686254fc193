// ModelConfig parsing (transformers' field names and defaults) and the presets: their parameter counts must equal
// the published model sizes, which checks every shape the decoder will expect from those checkpoints.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { parameterCount, parseModelConfig, toHfConfigJson } from "./model-config.ts";
import { MODEL_PRESETS, checkpointShapes, customConfig, randomWeights } from "./presets.ts";
import { buildDecoder } from "./decoder.ts";
import { Rng } from "../util/rng.ts";

test("presets have the published parameter counts", () => {
  // Exact totals of the safetensors checkpoints (tied lm_head counted once).
  const published: Record<string, number> = {
    "Qwen/Qwen2-0.5B": 494_032_768,
    "Qwen/Qwen2-1.5B": 1_543_714_304,
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
  };
  for (const [id, p] of Object.entries(MODEL_PRESETS)) {
    assert.equal(parameterCount(p.config), published[id], id);
    const fromShapes = [...checkpointShapes(p.config).values()].reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
    assert.equal(fromShapes, published[id], `${id}: checkpointShapes`);
    assert.match(p.summary, /B params/);
  }
  const q = MODEL_PRESETS["Qwen/Qwen2-0.5B"]!.config;
  assert.deepEqual(
    [
      q.hiddenSize,
      q.numLayers,
      q.numHeads,
      q.numKvHeads,
      q.headDim,
      q.intermediateSize,
      q.vocabSize,
      q.ropeTheta,
      q.tieWordEmbeddings,
      q.qkvBias,
      q.oBias,
    ],
    [896, 24, 14, 2, 64, 4864, 151936, 1e6, true, true, false],
  );
  const l = MODEL_PRESETS["meta-llama/Llama-3.2-1B"]!.config;
  assert.deepEqual(l.ropeScaling, {
    type: "llama3",
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  });
  assert.equal(l.qkvBias, false);
  assert.equal(MODEL_PRESETS["meta-llama/Llama-3.2-3B"]!.config.headDim, 128);
});

test("parseModelConfig: defaults, head_dim, eos lists, and clear errors", () => {
  const base = {
    model_type: "llama",
    vocab_size: 10,
    hidden_size: 8,
    intermediate_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
  };
  const c = parseModelConfig(base);
  assert.equal(c.numKvHeads, 2);
  assert.equal(c.headDim, 4);
  assert.equal(c.ropeScaling, null);
  assert.equal(c.tieWordEmbeddings, false);
  assert.deepEqual(parseModelConfig({ ...base, eos_token_id: [5, 6] }).eosTokenIds, [5, 6]);
  assert.equal(parseModelConfig({ ...base, attention_bias: true }).oBias, true);
  assert.deepEqual(parseModelConfig(toHfConfigJson(c)), c);
  assert.throws(
    () => parseModelConfig({ ...base, model_type: "mistral" }, "x/config.json"),
    /x\/config\.json: model_type "mistral" is not supported; supported: llama, qwen2/,
  );
  assert.throws(
    () => parseModelConfig({ ...base, rope_scaling: { rope_type: "yarn", factor: 4 } }),
    /rope_scaling type "yarn" is not supported/,
  );
  assert.throws(() => parseModelConfig({ ...base, num_key_value_heads: 3 }), /multiple of num_key_value_heads/);
  assert.throws(() => parseModelConfig({ ...base, hidden_size: "8" }), /"hidden_size" must be a positive integer/);
  assert.throws(
    () => parseModelConfig({ ...base, model_type: "qwen2", use_sliding_window: true }),
    /use_sliding_window/,
  );
});

test("a random-init decoder from a custom config runs forward and frees every tensor", async () => {
  await initBackend("wasm");
  const before = tf.memory().numTensors;
  const config = customConfig({
    vocabSize: 64,
    hiddenSize: 32,
    intermediateSize: 48,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
  });
  const decoder = buildDecoder(config, randomWeights(config, new Rng(1)));
  const logits = tf.tidy(() =>
    decoder.forward(
      tf.tensor2d(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [2, 3],
        "int32",
      ),
    ),
  );
  assert.deepEqual(logits.shape, [2, 3, 64]);
  assert.ok(logits.dataSync().every(Number.isFinite));
  logits.dispose();
  decoder.dispose();
  assert.equal(tf.memory().numTensors, before);
});
