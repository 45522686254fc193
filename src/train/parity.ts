// Parity of the decoder with PyTorch on the two tiny checkpoints in src/models/fixtures (written, with their
// golden.json, by `/usr/bin/python3 tools/reference/make_tiny_checkpoints.py`, whose model is
// tools/reference/reference_model.py), on whichever backend is selected: base logits, the LoRA continuation loss with
// dA/dB on all seven targets, greedy generation (KV cache and full forward). Used by decoder.golden.test.ts (wasm,
// cpu) and webgpu.e2e.test.ts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { loadDecoder } from "../models/load.ts";
import { generateGreedy, generateGreedyNoCache } from "../models/generate.ts";
import { loadAdapter } from "../lora/lora.ts";
import { tokenBatch } from "../models/batch.ts";
import { continuationLoss } from "./loss.ts";

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../models/fixtures");

interface Golden {
  logits: { ids: number[][]; shape: [number, number, number]; values: number[] };
  lora: {
    adapter: string;
    batch: { B: number; T: number; ids: number[]; targets: number[]; mask: number[] };
    loss: number;
    grads: Record<string, number[]>;
  };
  greedy: { prompt: number[]; ids: number[]; logprobs: number[] };
}

const golden = (name: string): Golden =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, name, "golden.json"), "utf8")) as Golden;

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]!));
  return m;
}

/** ‖a − b‖ / ‖b‖ */
function relNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0,
    n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

export async function checkLogits(name: string): Promise<void> {
  const g = golden(name);
  const decoder = loadDecoder(path.join(FIXTURES, name));
  const before = tf.memory().numTensors;
  try {
    const logits = tf.tidy(() => decoder.forward(tf.tensor2d(g.logits.ids, undefined, "int32")));
    assert.deepEqual(logits.shape, g.logits.shape);
    const got = await logits.data();
    logits.dispose();
    const ref = g.logits.values;
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
    const rel = worst / maxAbs(ref);
    assert.ok(rel <= 1e-4, `${name}: max |Δlogit| / max |logit| = ${rel.toExponential(2)} > 1e-4`);
    assert.equal(tf.memory().numTensors, before, "forward leaked tensors");
  } finally {
    decoder.dispose();
  }
}

export async function checkLoraGrads(name: string): Promise<void> {
  const g = golden(name);
  const decoder = loadDecoder(path.join(FIXTURES, name));
  try {
    const pairs = loadAdapter(decoder, path.join(FIXTURES, name, g.lora.adapter));
    assert.equal(pairs.length, Object.keys(g.lora.grads).length / 2);
    const b = g.lora.batch;
    const batch = tokenBatch({
      B: b.B,
      T: b.T,
      ids: Int32Array.from(b.ids),
      targets: Int32Array.from(b.targets),
      mask: Float32Array.from(b.mask),
    });
    const before = tf.memory().numTensors;
    const vars = pairs.flatMap((p) => [p.A, p.B]);
    const { value, grads } = tf.variableGrads(() => continuationLoss(decoder, batch), vars);
    const loss = (await value.data())[0]!;
    assert.ok(
      Math.abs(loss - g.lora.loss) <= 1e-5 * Math.abs(g.lora.loss),
      `${name}: loss ${loss} vs PyTorch ${g.lora.loss}`,
    );
    let worst = 0;
    for (const [key, ref] of Object.entries(g.lora.grads)) {
      const got = grads[key];
      assert.ok(got, `no gradient for ${key}`);
      const r = relNorm(await got.data(), ref);
      worst = Math.max(worst, r);
      assert.ok(r <= 1e-4, `${name}: ${key}: ‖Δg‖/‖g‖ = ${r.toExponential(2)} > 1e-4`);
    }
    assert.ok(worst > 0, "gradients identical to the last bit: is the test comparing anything?");
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, before, "loss/gradient leaked tensors");
  } finally {
    decoder.dispose();
  }
}

/** Greedy generation (the first `tokens` of the golden continuation; all by default) vs PyTorch and the full forward. */
export async function checkGreedy(name: string, tokens?: number): Promise<void> {
  const full0 = golden(name);
  const n = Math.min(tokens ?? full0.greedy.ids.length, full0.greedy.ids.length);
  const g = {
    ...full0,
    greedy: { ...full0.greedy, ids: full0.greedy.ids.slice(0, n), logprobs: full0.greedy.logprobs.slice(0, n) },
  };
  const decoder = loadDecoder(path.join(FIXTURES, name));
  try {
    const before = tf.memory().numTensors;
    const cached = await generateGreedy(decoder, g.greedy.prompt, { maxNewTokens: g.greedy.ids.length });
    assert.deepEqual(cached.ids, g.greedy.ids, `${name}: KV-cache greedy ids differ from PyTorch`);
    const full = await generateGreedyNoCache(decoder, g.greedy.prompt, g.greedy.ids.length);
    assert.deepEqual(full.ids, cached.ids);
    for (let i = 0; i < cached.ids.length; i++) {
      assert.ok(
        Math.abs(cached.logprobs[i]! - full.logprobs[i]!) < 1e-4,
        `step ${i}: cached logprob ${cached.logprobs[i]} vs full ${full.logprobs[i]}`,
      );
      assert.ok(
        Math.abs(cached.logprobs[i]! - g.greedy.logprobs[i]!) < 1e-4,
        `step ${i}: logprob ${cached.logprobs[i]} vs PyTorch ${g.greedy.logprobs[i]}`,
      );
    }
    assert.equal(tf.memory().numTensors, before, "generation leaked tensors");
    const stopAt = g.greedy.ids[Math.min(3, n - 1)]!;
    const stopped = await generateGreedy(decoder, g.greedy.prompt, { maxNewTokens: 50, stopIds: [stopAt] });
    assert.deepEqual(stopped.ids, g.greedy.ids.slice(0, g.greedy.ids.indexOf(stopAt) + 1));
  } finally {
    decoder.dispose();
  }
}
