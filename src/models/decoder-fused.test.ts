// The decoder with the fused wasm kernels (src/wasm-fused.ts: RMSNorm, SwiGLU, the LoRA linear layer) against the
// same decoder on the composed tfjs ops: hidden states and every LoRA gradient within float32 reassociation
// (1e-5 relative), on a GQA model with q/k/v biases and LoRA on all seven projections; tensor counts back to
// baseline; a batch large enough to split the addon's loops gives the same bits on one thread and on two; with the
// native matmul off nothing is fused (plain wasm runs the composed ops). Then the fused attention
// alone against the composed ops: forward bit-identical, gradients within 1e-6; the attention over a KV cache
// (generation) bit-identical, its extended cache too, and greedy generation giving the same tokens. Skips without
// the native addon.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { disableNativeMatmul, enableNativeMatmul, loadMatmulAddon, nativeMatmulThreads } from "../native-matmul.ts";
import { Rng } from "../util/rng.ts";
import { fusedAttention, fusedAttentionCached, fusedKernelsActive, setFusedKernels } from "../wasm-fused.ts";
import { generateGreedy } from "./generate.ts";
import { buildDecoder, type AttachedLora, type Decoder } from "./decoder.ts";
import { customConfig, randomWeightSource } from "./presets.ts";
import { applyRope, ropeInvFreq, ropeTables, rotateHalfMatrix } from "./rope.ts";
import { maxRel } from "../testing/max-rel.ts";

const config = customConfig({
  modelType: "qwen2",
  vocabSize: 61,
  hiddenSize: 64,
  intermediateSize: 112,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
});
const MODULES = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
];

function setup(): { decoder: Decoder; vars: tf.Variable[] } {
  const decoder = buildDecoder(config, randomWeightSource(config, Rng.derive(0, "fused-decoder"), 0.1));
  const rng = Rng.derive(1, "fused-decoder-lora");
  const rand = (n: number) => Float32Array.from({ length: n }, () => 0.05 * rng.normal());
  const pairs: AttachedLora[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    for (const m of MODULES) {
      const module = `model.layers.${l}.${m}`;
      const inDim = m.endsWith("down_proj")
        ? config.intermediateSize
        : m.endsWith("o_proj")
          ? config.numHeads * config.headDim
          : config.hiddenSize;
      const outDim =
        m.includes("k_proj") || m.includes("v_proj")
          ? config.numKvHeads * config.headDim
          : m.endsWith("o_proj") || m.endsWith("down_proj")
            ? config.hiddenSize
            : m.includes("mlp")
              ? config.intermediateSize
              : config.numHeads * config.headDim;
      const A = tf.variable(tf.tensor2d(rand(4 * inDim), [4, inDim]), true, `fused-test/${module}/A`);
      const B = tf.variable(tf.tensor2d(rand(outDim * 4), [outDim, 4]), true, `fused-test/${module}/B`);
      pairs.push({ module, A, B, scaling: 2 });
    }
  }
  decoder.attachLora(pairs);
  return { decoder, vars: pairs.flatMap((p) => [p.A, p.B]) };
}

function lossAndGrads(
  decoder: Decoder,
  vars: tf.Variable[],
  fused: boolean,
  [B, T]: [number, number] = [2, 9],
): { h: Float32Array; grads: Float32Array[] } {
  const was = setFusedKernels(fused);
  try {
    return tf.tidy(() => {
      const ids = tf.tensor2d(
        Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % config.vocabSize),
        [B, T],
        "int32",
      );
      const w = tf.tensor3d(
        Float32Array.from({ length: B * T * 64 }, (_, i) => Math.sin(i)),
        [B, T, 64],
      );
      const h = decoder.hidden(ids).dataSync() as Float32Array;
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(decoder.hidden(ids, { training: true }), w)), vars);
      return { h, grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array) };
    });
  } finally {
    setFusedKernels(was);
  }
}

function compare(what: string): void {
  const { decoder, vars } = setup();
  const base = tf.memory().numTensors;
  try {
    const want = lossAndGrads(decoder, vars, false);
    const got = lossAndGrads(decoder, vars, true);
    assert.ok(maxRel(got.h, want.h) <= 1e-5, `${what}: hidden ${maxRel(got.h, want.h)}`);
    vars.forEach((v, i) =>
      assert.ok(
        maxRel(got.grads[i]!, want.grads[i]!) <= 1e-5,
        `${what}: ${v.name}: ${maxRel(got.grads[i]!, want.grads[i]!)}`,
      ),
    );
    assert.equal(tf.memory().numTensors, base, `${what}: tensors left behind`);
  } finally {
    decoder.dispose();
  }
}

const skip =
  typeof loadMatmulAddon() === "string" ? "optional native addon not built (the fused kernels need it)" : false;

test(
  "decoder with fused kernels: hidden states and LoRA gradients equal the composed ops' (native matmul on)",
  { skip },
  async () => {
    await initBackend("wasm");
    enableNativeMatmul();
    assert.ok(fusedKernelsActive());
    compare("native matmul");
  },
);

test(
  "a batch large enough to split the fused loops across threads: the same bits on one thread and on the addon's threads",
  { skip },
  async () => {
    await initBackend("wasm");
    enableNativeMatmul();
    const addon = loadMatmulAddon();
    if (typeof addon === "string") throw new Error(addon);
    const { decoder, vars } = setup();
    const base = tf.memory().numTensors;
    // 8×128 tokens: every row and element loop of RMSNorm, SwiGLU, the attention folds, mask and softmax backward
    // is past its one-thread grain (native/lora-lab-matmul/src/fused.cc).
    const shape: [number, number] = [8, 128];
    try {
      addon.setThreads(1);
      const one = lossAndGrads(decoder, vars, true, shape);
      addon.setThreads(Math.max(2, nativeMatmulThreads()));
      const many = lossAndGrads(decoder, vars, true, shape);
      assert.ok(Buffer.from(one.h.buffer).equals(Buffer.from(many.h.buffer)), "hidden states");
      vars.forEach((v, i) =>
        assert.ok(Buffer.from(one.grads[i]!.buffer).equals(Buffer.from(many.grads[i]!.buffer)), v.name),
      );
      const composed = lossAndGrads(decoder, vars, false, shape);
      assert.ok(maxRel(many.h, composed.h) <= 1e-5, `hidden vs composed: ${maxRel(many.h, composed.h)}`);
      assert.equal(tf.memory().numTensors, base);
    } finally {
      addon.setThreads(nativeMatmulThreads());
      decoder.dispose();
    }
  },
);

test("plain wasm (native matmul off) runs no fused kernel", { skip }, async () => {
  await initBackend("wasm");
  const had = disableNativeMatmul();
  try {
    assert.equal(fusedKernelsActive(), false);
  } finally {
    if (had) enableNativeMatmul();
  }
});

test(
  "fused attention equals the composed RoPE → GQA fold → q·kᵀ/√hd + mask → softmax → ·v bit for bit, and its gradients",
  { skip },
  async () => {
    await initBackend("wasm");
    assert.ok(enableNativeMatmul().active);
    const base = tf.memory().numTensors;
    const rng = Rng.derive(4, "fused-attention");
    for (const [B, T, H, KV, hd] of [
      [2, 9, 4, 2, 16],
      [1, 13, 6, 2, 8],
      [3, 5, 2, 2, 32],
    ] as const) {
      tf.tidy(() => {
        const rand = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
        const q = tf.tensor2d(rand(B * T * H * hd), [B * T, H * hd]);
        const k = tf.tensor2d(rand(B * T * KV * hd), [B * T, KV * hd]);
        const v = tf.tensor2d(rand(B * T * KV * hd), [B * T, KV * hd]);
        const w = tf.tensor2d(rand(B * T * H * hd), [B * T, H * hd]);
        const { cos, sin } = ropeTables(ropeInvFreq({ headDim: hd, ropeTheta: 10000, ropeScaling: null }), 0, T);
        const R = rotateHalfMatrix(hd);
        const G = H / KV;
        const composed = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) => {
          const qr = applyRope(qi.reshape([B, T, H, hd]) as tf.Tensor4D, cos, sin, R);
          const kr = applyRope(ki.reshape([B, T, KV, hd]) as tf.Tensor4D, cos, sin, R);
          const qh = tf.transpose(qr.reshape([B, T, KV, G * hd]), [0, 2, 1, 3]).reshape([B, KV, T * G, hd]);
          const kh = tf.transpose(kr, [0, 2, 1, 3]);
          const vh = tf.transpose(vi.reshape([B, T, KV, hd]), [0, 2, 1, 3]);
          const m = new Float32Array(T * G * T);
          for (let t = 0; t < T; t++)
            for (let g = 0; g < G; g++) m.fill(-1e9, (t * G + g) * T + t + 1, (t * G + g + 1) * T);
          const scores = tf.add(tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(hd)), tf.tensor2d(m, [T * G, T]));
          const o = tf.matMul(tf.softmax(scores), vh);
          return tf.transpose(o.reshape([B, KV, T, G * hd]), [0, 2, 1, 3]).reshape([B * T, H * hd]);
        };
        const fused = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor): tf.Tensor =>
          fusedAttention(qi as tf.Tensor2D, ki as tf.Tensor2D, vi as tf.Tensor2D, cos, sin, { B, T, H, KV, hd });
        const loss = (f: typeof fused) => (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) =>
          tf.sum(tf.mul(f(qi, ki, vi), w));
        const what = `B ${B}, T ${T}, H ${H}, KV ${KV}, hd ${hd}`;
        const y = fused(q, k, v).dataSync(),
          y0 = composed(q, k, v).dataSync();
        for (let i = 0; i < y.length; i++)
          if (!Object.is(y[i], y0[i])) assert.fail(`${what}: o[${i}] ${y[i]} vs ${y0[i]}`);
        const g = tf.grads(loss(fused))([q, k, v]),
          g0 = tf.grads(loss(composed))([q, k, v]);
        ["dq", "dk", "dv"].forEach((name, j) => {
          const rel = maxRel(g[j]!.dataSync() as Float32Array, g0[j]!.dataSync() as Float32Array);
          assert.ok(rel <= 1e-6, `${what}: ${name} ${rel}`); // the softmax backward's row sum is the only reordering
        });
      });
    }
    assert.equal(tf.memory().numTensors, base);
  },
);

test(
  "fused attention over a KV cache equals the composed RoPE → fold → concat → masked q·kᵀ/√hd → softmax → ·v bit for bit, cache included",
  { skip },
  async () => {
    await initBackend("wasm");
    assert.ok(enableNativeMatmul().active);
    const base = tf.memory().numTensors;
    const rng = Rng.derive(7, "fused-attention-cached");
    // [B, T (this call), P (cached), H, KV, hd]: a prompt fill (P = 0), one decoding token, several tokens after a cache
    for (const [B, T, P, H, KV, hd] of [
      [1, 6, 0, 4, 2, 16],
      [1, 1, 9, 6, 2, 8],
      [2, 3, 5, 4, 4, 8],
    ] as const) {
      tf.tidy(() => {
        const rand = (shape: number[]) =>
          tf.tensor(
            Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
            shape,
          );
        const q = rand([B * T, H * hd]) as tf.Tensor2D;
        const k = rand([B * T, KV * hd]) as tf.Tensor2D;
        const v = rand([B * T, KV * hd]) as tf.Tensor2D;
        const past = P ? { k: rand([B, KV, P, hd]) as tf.Tensor4D, v: rand([B, KV, P, hd]) as tf.Tensor4D } : null;
        const { cos, sin } = ropeTables(ropeInvFreq({ headDim: hd, ropeTheta: 10000, ropeScaling: null }), P, T);
        const R = rotateHalfMatrix(hd);
        const G = H / KV,
          S = P + T;
        // The composed path of src/models/decoder.ts attention() with a cache.
        const qr = applyRope(q.reshape([B, T, H, hd]) as tf.Tensor4D, cos, sin, R);
        const kr = applyRope(k.reshape([B, T, KV, hd]) as tf.Tensor4D, cos, sin, R);
        const qh = tf.transpose(qr.reshape([B, T, KV, G * hd]), [0, 2, 1, 3]).reshape([B, KV, T * G, hd]);
        let kh = tf.transpose(kr, [0, 2, 1, 3]);
        let vh = tf.transpose(v.reshape([B, T, KV, hd]), [0, 2, 1, 3]);
        if (past) {
          kh = tf.concat([past.k, kh], 2);
          vh = tf.concat([past.v, vh], 2);
        }
        let scores = tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(hd));
        if (T > 1) {
          const m = new Float32Array(T * G * S);
          for (let t = 0; t < T; t++)
            for (let g = 0; g < G; g++) m.fill(-1e9, (t * G + g) * S + P + t + 1, (t * G + g + 1) * S);
          scores = tf.add(scores, tf.tensor2d(m, [T * G, S]));
        }
        const o0 = tf
          .transpose(tf.matMul(tf.softmax(scores), vh).reshape([B, KV, T, G * hd]), [0, 2, 1, 3])
          .reshape([B * T, H * hd]);
        const [o, keys, values] = fusedAttentionCached(q, k, v, cos, sin, past, { B, T, H, KV, hd });
        const what = `B ${B}, T ${T}, P ${P}, H ${H}, KV ${KV}, hd ${hd}`;
        for (const [got, want, name] of [
          [o, o0, "o"],
          [keys, kh, "keys"],
          [values, vh, "values"],
        ] as const) {
          assert.deepEqual(got.shape, want.shape, `${what}: ${name} shape`);
          const a = got.dataSync(),
            b = want.dataSync();
          for (let i = 0; i < a.length; i++)
            if (!Object.is(a[i], b[i])) assert.fail(`${what}: ${name}[${i}] ${a[i]} vs ${b[i]}`);
        }
      });
    }
    assert.equal(tf.memory().numTensors, base);
  },
);

test("greedy generation with the KV cache: the fused path gives the composed path's tokens", { skip }, async () => {
  await initBackend("wasm");
  enableNativeMatmul();
  const { decoder } = setup();
  const base = tf.memory().numTensors;
  try {
    const prompt = [1, 5, 9, 14, 2, 33, 7];
    const run = async (fused: boolean) => {
      const was = setFusedKernels(fused);
      try {
        return await generateGreedy(decoder, prompt, { maxNewTokens: 12 });
      } finally {
        setFusedKernels(was);
      }
    };
    const composed = await run(false);
    const fused = await run(true);
    assert.deepEqual(fused.ids, composed.ids);
    fused.logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - composed.logprobs[i]!) <= 1e-4, `logprob ${i}`));
    assert.equal(tf.memory().numTensors, base);
  } finally {
    decoder.dispose();
  }
});
