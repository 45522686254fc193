// The decoder with the fused wasm kernels (src/wasm-fused.ts: RMSNorm, SwiGLU, the LoRA linear layer) against the
// same decoder on the composed tfjs ops: hidden states and every LoRA gradient within float32 reassociation
// (1e-5 relative), on a GQA model with q/k/v biases and LoRA on all seven projections; tensor counts back to
// baseline. Then the same with the native matmul off (plain wasm: RMSNorm and SwiGLU fused, LoRA composed).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { disableNativeMatmul, enableNativeMatmul } from "../native-matmul.ts";
import { Rng } from "../util/rng.ts";
import { fusedKernelsActive, setFusedKernels } from "../wasm-fused.ts";
import { buildDecoder, type AttachedLora, type Decoder } from "./decoder.ts";
import { customConfig, randomWeightSource } from "./presets.ts";

const config = customConfig({ modelType: "qwen2", vocabSize: 61, hiddenSize: 64, intermediateSize: 112, numLayers: 2, numHeads: 4, numKvHeads: 2 });
const MODULES = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

function setup(): { decoder: Decoder; vars: tf.Variable[] } {
  const decoder = buildDecoder(config, randomWeightSource(config, Rng.derive(0, "fused-decoder"), 0.1));
  const rng = Rng.derive(1, "fused-decoder-lora");
  const rand = (n: number) => Float32Array.from({ length: n }, () => 0.05 * rng.normal());
  const pairs: AttachedLora[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    for (const m of MODULES) {
      const module = `model.layers.${l}.${m}`;
      const inDim = m.endsWith("down_proj") ? config.intermediateSize : m.endsWith("o_proj") ? config.numHeads * config.headDim : config.hiddenSize;
      const outDim = m.includes("k_proj") || m.includes("v_proj") ? config.numKvHeads * config.headDim : m.endsWith("o_proj") || m.endsWith("down_proj") ? config.hiddenSize : m.includes("mlp") ? config.intermediateSize : config.numHeads * config.headDim;
      const A = tf.variable(tf.tensor2d(rand(4 * inDim), [4, inDim]), true, `fused-test/${module}/A`);
      const B = tf.variable(tf.tensor2d(rand(outDim * 4), [outDim, 4]), true, `fused-test/${module}/B`);
      pairs.push({ module, A, B, scaling: 2 });
    }
  }
  decoder.attachLora(pairs);
  return { decoder, vars: pairs.flatMap((p) => [p.A, p.B]) };
}

function lossAndGrads(decoder: Decoder, vars: tf.Variable[], fused: boolean): { h: Float32Array; grads: Float32Array[] } {
  const was = setFusedKernels(fused);
  try {
    return tf.tidy(() => {
      const ids = tf.tensor2d(Int32Array.from({ length: 2 * 9 }, (_, i) => (i * 7 + 3) % config.vocabSize), [2, 9], "int32");
      const w = tf.tensor3d(Float32Array.from({ length: 2 * 9 * 64 }, (_, i) => Math.sin(i)), [2, 9, 64]);
      const h = decoder.hidden(ids).dataSync() as Float32Array;
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(decoder.hidden(ids, { training: true }), w)), vars);
      return { h, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array) };
    });
  } finally {
    setFusedKernels(was);
  }
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 1e-30;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

function compare(what: string): void {
  const { decoder, vars } = setup();
  const base = tf.memory().numTensors;
  try {
    const want = lossAndGrads(decoder, vars, false);
    const got = lossAndGrads(decoder, vars, true);
    assert.ok(maxRel(got.h, want.h) <= 1e-5, `${what}: hidden ${maxRel(got.h, want.h)}`);
    vars.forEach((v, i) => assert.ok(maxRel(got.grads[i]!, want.grads[i]!) <= 1e-5, `${what}: ${v.name}: ${maxRel(got.grads[i]!, want.grads[i]!)}`));
    assert.equal(tf.memory().numTensors, base, `${what}: tensors left behind`);
  } finally {
    decoder.dispose();
  }
}

test("decoder with fused kernels: hidden states and LoRA gradients equal the composed ops' (native matmul on)", async () => {
  await initBackend("wasm");
  enableNativeMatmul();
  assert.ok(fusedKernelsActive());
  compare("native matmul");
});

test("decoder with fused kernels on plain wasm (native matmul off): same values", async () => {
  await initBackend("wasm");
  const had = disableNativeMatmul();
  try {
    compare("plain wasm");
  } finally {
    if (had) enableNativeMatmul();
  }
});
