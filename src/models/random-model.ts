// Checkpoint-free models for `quickstart`, tests and benchmarks: a model id "random:key=value,…" builds a
// Llama/Qwen2-architecture decoder with seeded random weights and the character tokenizer, through the same
// decoder code as a real checkpoint. Keys: type (llama|qwen2), d (hidden), L (layers), heads, kv, ffn, vocab, seed,
// tied (0|1). Unset: heads = d/32, kv = heads/2, ffn = 2.6875·d (Llama-3's ratio), vocab = the tokenizer's.
import * as tf from "@tensorflow/tfjs";
import { checkTensorsFit, placeOnDevice, type BackendInfo } from "../backend.ts";
import { Rng } from "../util/rng.ts";
import { createCharTokenizer } from "./char-tokenizer.ts";
import { buildDecoder } from "./decoder.ts";
import type { ModelConfig } from "./model-config.ts";
import { checkpointShapes, customConfig, randomWeightValues } from "./presets.ts";

export const RANDOM_PREFIX = "random:";

export function isRandomModelSpec(model: string): boolean {
  return model.startsWith(RANDOM_PREFIX);
}

const KEYS = ["type", "d", "L", "heads", "kv", "ffn", "vocab", "seed", "tied"] as const;

/** Parse "random:d=128,L=2" (errors name the bad key and list the valid ones). */
export function parseRandomModelSpec(spec: string): { config: ModelConfig; seed: number } {
  const kv = new Map<string, string>();
  for (const part of spec.slice(RANDOM_PREFIX.length).split(",").filter(Boolean)) {
    const [k, v] = part.split("=");
    if (!k || v === undefined || !(KEYS as readonly string[]).includes(k)) {
      throw new Error(
        `model "${spec}": "${part}" is not key=value with a key among ${KEYS.join(", ")} (e.g. random:d=128,L=2)`,
      );
    }
    kv.set(k, v);
  }
  const num = (k: string, dflt: number) => {
    const v = kv.get(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`model "${spec}": ${k}=${v} must be a non-negative integer`);
    return n;
  };
  const d = num("d", 128);
  const heads = num("heads", Math.max(1, Math.round(d / 32)));
  const type = kv.get("type") ?? "llama";
  if (type !== "llama" && type !== "qwen2") throw new Error(`model "${spec}": type must be llama or qwen2`);
  const config = customConfig({
    modelType: type,
    vocabSize: num("vocab", createCharTokenizer().vocabSize),
    hiddenSize: d,
    intermediateSize: num("ffn", Math.round(2.6875 * d)),
    numLayers: num("L", 2),
    numHeads: heads,
    numKvHeads: num("kv", Math.max(1, Math.floor(heads / 2))),
    tieWordEmbeddings: num("tied", 0) === 1,
  });
  return { config, seed: num("seed", 0) };
}

/** A LoadedModel (see load.ts) for a "random:…" id. */
export function loadRandomModel(spec: string, backend: BackendInfo) {
  const { config, seed } = parseRandomModelSpec(spec);
  const tokenizer = createCharTokenizer();
  if (config.vocabSize < tokenizer.vocabSize)
    throw new Error(
      `model "${spec}": vocab=${config.vocabSize} is smaller than the character tokenizer's ${tokenizer.vocabSize}`,
    );
  const shapes = checkpointShapes(config);
  checkTensorsFit(shapes, `model "${spec}"`);
  const known = generated.get(spec);
  const source = known
    ? (name: string) => known.get(name)!
    : randomWeightValues(config, Rng.derive(seed, "random-model"));
  const values = new Map<string, Float32Array>();
  const decoder = buildDecoder(config, (name, shape) => {
    const v = source(name, shape);
    values.set(name, v);
    return placeOnDevice(tf.tensor(v, [...shape]));
  });
  const params = [...shapes.values()].reduce((n, sh) => n + sh.reduce((a, b) => a * b, 1), 0);
  if (!known && params <= KEEP_MAX_PARAMS) {
    generated.set(spec, values);
    if (generated.size > KEEP_MODELS) generated.delete(generated.keys().next().value!);
  }
  return { dir: spec, config, decoder, tokenizer, backend };
}

/**
 * The generated weights of the last few models, by spec: a sweep's cells of one model reuse them instead of drawing
 * them again (the same values: they depend on the spec's seed only; d = 512 takes ~0.1 s to draw).
 */
const generated = new Map<string, Map<string, Float32Array>>();
const KEEP_MODELS = 4;
/** Larger models are drawn anew each time (d = 512, L = 2 has ~6M parameters: 4 of those ~100 MB). */
const KEEP_MAX_PARAMS = 16e6;
