// LoRA injection: PEFT init (A ~ U(±1/√in) from the seeded Rng, B = 0, names, scaling, rsLoRA), the forward equals
// the base model with merged weights W0 + s·B·A, dropout only in training, the stability-probe hook, and the PEFT
// export → import round trip (exact) with its mismatch errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { buildDecoder } from "../models/decoder.ts";
import { customConfig, randomWeights } from "../models/presets.ts";
import { Rng } from "../util/rng.ts";
import { disposePairs, injectLora, loadAdapter, loadAdapterInto, saveAdapter } from "./lora.ts";
import { readPeftAdapter } from "./peft-format.ts";
import type { LoraConfig } from "../config.ts";

const config = customConfig({
  vocabSize: 40,
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
});
const ALL: LoraConfig["targets"] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const lora = (over: Partial<LoraConfig> = {}): LoraConfig => ({
  r: 4,
  alpha: 8,
  targets: ALL,
  dropout: 0,
  rslora: false,
  ...over,
});
const ids = () =>
  tf.tensor2d(
    [
      [1, 5, 7, 9, 2],
      [3, 3, 8, 1, 0],
    ],
    [2, 5],
    "int32",
  );

function makeDecoder(seed = 3) {
  return buildDecoder(config, randomWeights(config, new Rng(seed)));
}

/** Give every B a nonzero value so the LoRA branch matters. */
function randomizeB(pairs: ReturnType<typeof injectLora>, rng: Rng) {
  for (const p of pairs)
    tf.tidy(() =>
      p.B.assign(
        tf.tensor2d(
          Float32Array.from({ length: p.outDim * p.r }, () => rng.normal() * 0.3),
          [p.outDim, p.r],
        ),
      ),
    );
}

test("injectLora: PEFT init from the seeded Rng, names, shapes, scaling", async () => {
  await initBackend("wasm");
  const d = makeDecoder();
  try {
    const pairs = injectLora(d, lora({ targets: ["q_proj", "v_proj"] }), new Rng(7));
    assert.deepEqual(
      pairs.map((p) => p.module),
      [
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.self_attn.v_proj",
        "model.layers.1.self_attn.q_proj",
        "model.layers.1.self_attn.v_proj",
      ],
    );
    const v = pairs[1]!;
    assert.equal(v.A.name, "model.layers.0.self_attn.v_proj.lora_A.weight");
    assert.equal(v.B.name, "model.layers.0.self_attn.v_proj.lora_B.weight");
    assert.deepEqual(v.A.shape, [4, 16]);
    assert.deepEqual(v.B.shape, [8, 4]); // 2 kv heads × head_dim 4
    assert.equal(v.scaling, 2);
    const A = v.A.dataSync();
    assert.ok(A.every((x) => Math.abs(x) <= 1 / Math.sqrt(16)));
    assert.ok(Math.max(...A) > 0.15 && Math.min(...A) < -0.15, "A should fill U(−1/4, 1/4)");
    assert.ok(v.B.dataSync().every((x) => x === 0));
    const first = pairs.map((p) => Array.from(p.A.dataSync()));
    // Same seed → same A (after the old pairs are replaced and freed).
    const again = injectLora(d, lora({ targets: ["q_proj", "v_proj"] }), new Rng(7));
    assert.deepEqual(
      again.map((p) => Array.from(p.A.dataSync())),
      first,
    );
    assert.equal(injectLora(d, lora({ rslora: true, r: 16, alpha: 8 }), new Rng(1))[0]!.scaling, 2);
  } finally {
    d.dispose();
  }
});

test("the LoRA forward equals the base model with merged weights W0 + s·B·A", async () => {
  await initBackend("wasm");
  const before = tf.memory().numTensors;
  const d = makeDecoder(5);
  const pairs = injectLora(d, lora(), new Rng(2));
  randomizeB(pairs, new Rng(9));
  const withLora = tf.tidy(() => d.forward(ids()).dataSync());
  // Merged: W = W0 + s·B·A for every pair.
  const merged = randomWeights(config, new Rng(5));
  for (const p of pairs) {
    const W = merged.get(`${p.module}.weight`)!;
    merged.set(
      `${p.module}.weight`,
      tf.tidy(() => tf.add(W, tf.mul(tf.matMul(p.B, p.A), p.scaling))),
    );
    W.dispose();
  }
  const m = buildDecoder(config, merged);
  const ref = tf.tidy(() => m.forward(ids()).dataSync());
  const base = tf.tidy(() => {
    const saved = d.removeLora();
    const out = d.forward(ids()).dataSync();
    d.attachLora(saved);
    return out;
  });
  let worst = 0,
    moved = 0;
  for (let i = 0; i < ref.length; i++) {
    worst = Math.max(worst, Math.abs(withLora[i]! - ref[i]!));
    moved = Math.max(moved, Math.abs(base[i]! - ref[i]!));
  }
  assert.ok(worst < 1e-4, `max |Δ| ${worst}`);
  assert.ok(moved > 1e-2, "the adapter should change the logits");
  m.dispose();
  d.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("dropout acts on the LoRA branch in training only; the probe hook sees each module's input", async () => {
  await initBackend("wasm");
  const d = makeDecoder();
  try {
    const pairs = injectLora(d, lora({ dropout: 0.5 }), new Rng(2));
    randomizeB(pairs, new Rng(4));
    const run = (opts: Parameters<typeof d.forward>[1]) => tf.tidy(() => Array.from(d.forward(ids(), opts).dataSync()));
    const evalA = run({});
    assert.deepEqual(run({}), evalA);
    const t1 = run({ training: true, dropoutSeed: 1 });
    assert.notDeepEqual(t1, evalA);
    assert.deepEqual(run({ training: true, dropoutSeed: 1 }), t1, "same dropout seed, same masks");
    assert.notDeepEqual(run({ training: true, dropoutSeed: 2 }), t1);
    const seen = new Map<string, number[]>();
    tf.tidy(() => void d.hidden(ids(), { hooks: { onLoraInput: (m, x) => void seen.set(m, x.shape) } }));
    assert.equal(seen.size, 14);
    assert.deepEqual(seen.get("model.layers.1.mlp.down_proj"), [10, 24]);
    assert.deepEqual(seen.get("model.layers.0.self_attn.o_proj"), [10, 16]);
  } finally {
    d.dispose();
  }
});

test("PEFT export → import round trip is exact; mismatches are clear errors", async (t) => {
  await initBackend("wasm");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-adapter-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const d = makeDecoder();
  try {
    const pairs = injectLora(d, lora({ targets: ["q_proj", "down_proj"], alpha: 16 }), new Rng(11));
    randomizeB(pairs, new Rng(12));
    const values = pairs.map((p) => [Array.from(p.A.dataSync()), Array.from(p.B.dataSync())]);
    await saveAdapter(pairs, dir, { baseModel: "tiny", lora: { alpha: 16, dropout: 0.1, rslora: false } });
    const read = readPeftAdapter(dir);
    assert.equal(read.config.lora_alpha, 16);
    assert.deepEqual([...read.config.target_modules].sort(), ["down_proj", "q_proj"]);

    const fresh = injectLora(d, lora({ targets: ["q_proj", "down_proj"], alpha: 16 }), new Rng(99));
    loadAdapterInto(fresh, dir);
    assert.deepEqual(
      fresh.map((p) => [Array.from(p.A.dataSync()), Array.from(p.B.dataSync())]),
      values,
    );

    const loaded = loadAdapter(d, dir);
    assert.deepEqual(
      loaded.map((p) => [Array.from(p.A.dataSync()), Array.from(p.B.dataSync())]),
      values,
    );
    assert.equal(loaded[0]!.scaling, 4);
    assert.equal(d.loraDropout, 0.1);

    const other = injectLora(d, lora({ targets: ["q_proj", "v_proj"] }), new Rng(1));
    assert.throws(
      () => loadAdapterInto(other, dir),
      /missing: model\.layers\.0\.self_attn\.v_proj.*not targeted here: model\.layers\.0\.mlp\.down_proj/,
    );
    const wrongRank = injectLora(d, lora({ targets: ["q_proj", "down_proj"], r: 2 }), new Rng(1));
    assert.throws(() => loadAdapterInto(wrongRank, dir), /lora_A has shape \[4, 16\], expected \[2, 16\]/);
    disposePairs(d.removeLora());
  } finally {
    d.dispose();
  }
});

test("loadAdapter: an adapter of another model is an error naming the tensor, both shapes and the fix", async (t) => {
  await initBackend("wasm");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-adapter-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const wider = customConfig({
    vocabSize: 40,
    hiddenSize: 24,
    intermediateSize: 24,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
  });
  const other = buildDecoder(wider, randomWeights(wider, new Rng(5)));
  const d = makeDecoder();
  try {
    await saveAdapter(injectLora(other, lora({ targets: ["v_proj"] }), new Rng(1)), dir, {
      baseModel: "wider-model",
      lora: lora(),
    });
    const before = tf.memory().numTensors;
    assert.throws(
      () => loadAdapter(d, dir),
      /tensor model\.layers\.0\.self_attn\.v_proj\.lora_A\.weight has shape \[4, 24\], but this model's layer .* is \[out 8, in 16\], so it must be \[4, 16\]: the adapter was trained on another model \("wider-model" per its adapter_config\.json\); apply it to that model/,
    );
    assert.equal(tf.memory().numTensors, before, "no pair leaked");
  } finally {
    disposePairs(other.removeLora());
    other.dispose();
    d.dispose();
  }
});
