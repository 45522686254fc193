// Decoder.hiddenAt (the last layer past attention on the asked rows only, what the training loss and scoring read)
// against the rows of hidden(): values and every LoRA gradient, on each CPU path (tfjs cpu, plain wasm, wasm with the
// native matmul and fused kernels), with LoRA on every projection, on the later modules only, and on q, v (the
// quickstart's targets, where layer 0's LoRA inputs need no gradient and the fused backward skips it). Rows in any
// order; bad rows are refused; tensor counts return to baseline.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import type { LoraConfig } from "../config.ts";
import { disposePairs, injectLora } from "../lora/lora.ts";
import { disableNativeMatmul, enableNativeMatmul, loadMatmulAddon } from "../native-matmul.ts";
import { Rng } from "../util/rng.ts";
import { fusedKernelsActive } from "../wasm-fused.ts";
import { buildDecoder, type Decoder } from "./decoder.ts";
import { customConfig, randomWeightSource } from "./presets.ts";
import { maxRel } from "../testing/max-rel.ts";

const config = customConfig({
  modelType: "qwen2",
  vocabSize: 53,
  hiddenSize: 64,
  intermediateSize: 112,
  numLayers: 3,
  numHeads: 4,
  numKvHeads: 2,
});
const [B, T, d] = [3, 7, config.hiddenSize];
const ROWS = [20, 4, 5, 6, 13, 12, 0]; // any order, a row of each sequence's start, middle and end
const TARGETS: Record<string, LoraConfig["targets"]> = {
  all: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  "q, v": ["q_proj", "v_proj"],
  "down only": ["down_proj"],
};

function setup(targets: LoraConfig["targets"]): { decoder: Decoder; vars: tf.Variable[] } {
  const decoder = buildDecoder(config, randomWeightSource(config, Rng.derive(0, "decoder-rows"), 0.1));
  const pairs = injectLora(decoder, { r: 4, alpha: 8, targets, dropout: 0, rslora: false }, Rng.derive(1, "rows"));
  const rng = Rng.derive(2, "rows-B");
  for (const p of pairs) p.B.assign(tf.tidy(() => tf.randomNormal(p.B.shape, 0, 0.05, "float32", rng.int(1e9))));
  return { decoder, vars: pairs.flatMap((p) => [p.A, p.B]) };
}

type RowsOf = (decoder: Decoder, ids: tf.Tensor2D, training: boolean) => tf.Tensor2D;

/** hiddenAt(ROWS). */
const byHiddenAt: RowsOf = (decoder, ids, training) => decoder.hiddenAt(ids, ROWS, { training });

/** hidden() with ROWS picked by a one-hot product (differentiable on every backend; exact for finite values). */
const byOneHot: RowsOf = (decoder, ids, training) => {
  const S = new Float32Array(ROWS.length * B * T);
  ROWS.forEach((r, m) => (S[m * B * T + r] = 1));
  return tf.matMul(tf.tensor2d(S, [ROWS.length, B * T]), decoder.hidden(ids, { training }).reshape([B * T, d]));
};

/** [values at ROWS, then the gradient of Σ w ⊙ h[ROWS] for each LoRA variable]. */
function valuesAndGrads(decoder: Decoder, vars: tf.Variable[], rowsOf: RowsOf): Float32Array[] {
  return tf.tidy(() => {
    const ids = tf.tensor2d(
      Int32Array.from({ length: B * T }, (_, i) => (i * 11 + 5) % config.vocabSize),
      [B, T],
      "int32",
    );
    const w = tf.tensor2d(
      Float32Array.from({ length: ROWS.length * d }, (_, i) => Math.cos(i)),
      [ROWS.length, d],
    );
    const h = rowsOf(decoder, ids, false).dataSync() as Float32Array;
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(rowsOf(decoder, ids, true), w)), vars);
    return [h, ...vars.map((v) => grads[v.name]!.dataSync() as Float32Array)];
  });
}

function compareAll(path: string): void {
  for (const [what, targets] of Object.entries(TARGETS)) {
    const { decoder, vars } = setup(targets);
    const base = tf.memory().numTensors;
    try {
      const want = valuesAndGrads(decoder, vars, byOneHot);
      const got = valuesAndGrads(decoder, vars, byHiddenAt);
      got.forEach((g, i) => {
        const rel = maxRel(g, want[i]!);
        assert.ok(rel <= 1e-5, `${path}, LoRA on ${what}: ${i === 0 ? "hidden" : vars[i - 1]!.name} ${rel}`);
      });
      assert.equal(tf.memory().numTensors, base, `${path}, LoRA on ${what}: tensors left behind`);
    } finally {
      disposePairs(decoder.removeLora());
      decoder.dispose();
    }
  }
}

test("hiddenAt equals the rows of hidden(), values and LoRA gradients (tfjs cpu)", async () => {
  await initBackend("cpu");
  compareAll("cpu");
});

test("hiddenAt equals the rows of hidden(), values and LoRA gradients (plain wasm)", async () => {
  await initBackend("wasm");
  disableNativeMatmul();
  try {
    assert.ok(!fusedKernelsActive());
    compareAll("plain wasm");
  } finally {
    enableNativeMatmul();
  }
});

test(
  "hiddenAt equals the rows of hidden(), values and LoRA gradients (wasm, native matmul, fused kernels)",
  { skip: typeof loadMatmulAddon() === "string" ? "optional native addon not built" : false },
  async () => {
    await initBackend("wasm");
    enableNativeMatmul();
    assert.ok(fusedKernelsActive());
    compareAll("fused");
  },
);

test("hiddenAt refuses rows that are repeated, out of range or empty", async () => {
  await initBackend("cpu");
  const { decoder } = setup(TARGETS.all!);
  try {
    const ids = tf.zeros([2, 3], "int32") as tf.Tensor2D;
    for (const rows of [[1, 1], [6], [-1], [0.5], []])
      assert.throws(() => decoder.hiddenAt(ids, rows), /distinct integers in \[0, 6\)/, JSON.stringify(rows));
    ids.dispose();
  } finally {
    disposePairs(decoder.removeLora());
    decoder.dispose();
  }
});
