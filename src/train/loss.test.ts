// The continuation loss: equal to a naive full-logits log-softmax computation, chunked lm_head cross-entropy equal to the unchunked one
// (value and gradient), and no tensors left behind by a loss + gradient step. PyTorch parity of the loss and its
// LoRA gradients is in src/models/decoder.golden.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { buildDecoder } from "../models/decoder.ts";
import { createCharTokenizer } from "../models/char-tokenizer.ts";
import { customConfig, randomWeights } from "../models/presets.ts";
import { injectLora } from "../lora/lora.ts";
import { Rng } from "../util/rng.ts";
import { makeBatch } from "../models/batch.ts";
import { continuationLoss, lmHeadCrossEntropy } from "./loss.ts";

const tok = createCharTokenizer();

const config = customConfig({
  vocabSize: 90,
  hiddenSize: 16,
  intermediateSize: 24,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
});

test("continuationLoss = mean over continuation tokens of −log softmax(full logits)", async () => {
  await initBackend("wasm");
  const d = buildDecoder(config, randomWeights(config, new Rng(1), 0.2));
  try {
    const batch = makeBatch(
      tok,
      [
        { context: "the cat", continuation: " sat" },
        { context: "a", continuation: " dog ran" },
        { context: "xyz", continuation: "!" },
      ],
      64,
    );
    const loss = tf.tidy(() => continuationLoss(d, batch).dataSync()[0]!);
    const logp = tf.tidy(() => tf.logSoftmax(d.forward(batch.idsTensor())).dataSync());
    let sum = 0,
      n = 0;
    for (let i = 0; i < batch.mask.length; i++) {
      if (!batch.mask[i]) continue;
      sum -= logp[i * config.vocabSize + batch.targets[i]!]!;
      n++;
    }
    assert.equal(n, 4 + 8 + 1);
    assert.ok(Math.abs(loss - sum / n) < 1e-5 * Math.abs(sum / n), `${loss} vs ${sum / n}`);
  } finally {
    d.dispose();
  }
});

test("lm_head cross-entropy in row chunks equals one chunk, value and gradient, kept or recomputed softmax", async () => {
  await initBackend("wasm");
  const rng = new Rng(3);
  const [M, dim, V] = [11, 8, 30];
  const W = tf.tensor2d(
    Float32Array.from({ length: V * dim }, () => rng.normal()),
    [V, dim],
  );
  const lmHead = { weight: W, weightT: tf.transpose(W) as tf.Tensor2D };
  const h = tf.tensor2d(
    Float32Array.from({ length: M * dim }, () => rng.normal()),
    [M, dim],
  );
  const targets = Int32Array.from({ length: M }, () => rng.int(V));
  const run = (chunk: number) =>
    tf.tidy(() => {
      const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
        lmHeadCrossEntropy(x as tf.Tensor2D, lmHead, targets, chunk),
      )(h);
      return { value: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
    });
  const one = run(M);
  const chunked = run(3);
  // The backward from the forward's kept softmax − onehot equals the recomputed one bit for bit.
  const recomputed = tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
      lmHeadCrossEntropy(x as tf.Tensor2D, lmHead, targets, 3, 0),
    )(h);
    return { value: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
  });
  assert.equal(recomputed.value, chunked.value);
  assert.deepEqual(recomputed.grad, chunked.grad);
  // Reference: softmaxCrossEntropy on the full logits.
  const ref = tf.tidy(() => {
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(
        tf.oneHot(tf.tensor1d(targets, "int32"), V),
        tf.matMul(x as tf.Tensor2D, lmHead.weightT),
      ),
    )(h);
    return { value: value.dataSync()[0]!, grad: Array.from(grad.dataSync()) };
  });
  for (const r of [one, chunked]) {
    assert.ok(Math.abs(r.value - ref.value) < 1e-5 * ref.value);
    r.grad.forEach((g, i) => assert.ok(Math.abs(g - ref.grad[i]!) < 1e-5, `grad ${i}: ${g} vs ${ref.grad[i]}`));
  }
  tf.dispose([W, lmHead.weightT, h]);
});

test("a loss + LoRA gradient step leaves no tensors behind", async () => {
  await initBackend("wasm");
  const d = buildDecoder(config, randomWeights(config, new Rng(1)));
  try {
    const pairs = injectLora(
      d,
      { r: 2, alpha: 4, targets: ["q_proj", "v_proj", "down_proj"], dropout: 0.1, rslora: false },
      new Rng(5),
    );
    const batch = makeBatch(
      tok,
      [
        { context: "abc", continuation: " def" },
        { context: "q", continuation: "r" },
      ],
      64,
    );
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => continuationLoss(d, batch, { training: true, dropoutSeed: 3 }),
      pairs.flatMap((p) => [p.A, p.B]),
    );
    assert.equal(Object.keys(grads).length, 12);
    assert.ok(Number.isFinite(value.dataSync()[0]!));
    // B = 0 at init: dA = 0 exactly, dB ≠ 0.
    assert.ok(grads["model.layers.0.self_attn.q_proj.lora_A.weight"]!.dataSync().every((x) => x === 0));
    assert.ok(grads["model.layers.0.self_attn.q_proj.lora_B.weight"]!.dataSync().some((x) => x !== 0));
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    d.dispose();
  }
});
