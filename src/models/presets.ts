// The model families the paper's experiments use, keyed by hub id, with the values of their published config.json
// (huggingface.co/<id>/blob/main/config.json), plus random-init weights for checkpoint-free runs (tests, quickstart,
// bench): same names and shapes as a real checkpoint, so every code path downstream is the real one.
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../util/rng.ts";
import { parameterCount, parseModelConfig, type ModelConfig } from "./model-config.ts";

export interface ModelPreset {
  readonly config: ModelConfig;
  /** One line for `list`. */
  readonly summary: string;
}

const qwen2 = (hidden: number, layers: number, heads: number, ffn: number, window: number) =>
  parseModelConfig({
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    bos_token_id: 151643,
    eos_token_id: 151643,
    hidden_act: "silu",
    hidden_size: hidden,
    intermediate_size: ffn,
    max_position_embeddings: 131072,
    max_window_layers: window,
    num_attention_heads: heads,
    num_hidden_layers: layers,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: 131072,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
    use_sliding_window: false,
    vocab_size: 151936,
  });

const llama32 = (hidden: number, layers: number, heads: number, headDim: number) =>
  parseModelConfig({
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    attention_bias: false,
    bos_token_id: 128000,
    eos_token_id: 128001,
    head_dim: headDim,
    hidden_act: "silu",
    hidden_size: hidden,
    intermediate_size: 8192,
    max_position_embeddings: 131072,
    mlp_bias: false,
    num_attention_heads: heads,
    num_hidden_layers: layers,
    num_key_value_heads: 8,
    rms_norm_eps: 1e-5,
    rope_scaling: {
      factor: 32.0,
      high_freq_factor: 4.0,
      low_freq_factor: 1.0,
      original_max_position_embeddings: 8192,
      rope_type: "llama3",
    },
    rope_theta: 500000.0,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
    vocab_size: 128256,
  });

function preset(config: ModelConfig): ModelPreset {
  const c = config;
  const params = parameterCount(c);
  const summary =
    `${c.modelType}, ${(params / 1e9).toFixed(2)}B params: d=${c.hiddenSize}, ${c.numLayers} layers, ` +
    `${c.numHeads}/${c.numKvHeads} heads, ffn ${c.intermediateSize}, vocab ${c.vocabSize}` +
    `${c.tieWordEmbeddings ? ", tied" : ""}${c.ropeScaling ? ", llama3 RoPE" : ""}`;
  return { config, summary };
}

export const MODEL_PRESETS: Readonly<Record<string, ModelPreset>> = {
  "Qwen/Qwen2-0.5B": preset(qwen2(896, 24, 14, 4864, 24)),
  "Qwen/Qwen2-1.5B": preset(qwen2(1536, 28, 12, 8960, 28)),
  "meta-llama/Llama-3.2-1B": preset(llama32(2048, 16, 32, 64)),
  "meta-llama/Llama-3.2-3B": preset(llama32(3072, 28, 24, 128)),
};

/** A small custom config (tests, quickstart, bench); unspecified fields follow Llama defaults. */
export function customConfig(opts: {
  modelType?: "llama" | "qwen2";
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads?: number;
  headDim?: number;
  tieWordEmbeddings?: boolean;
  ropeTheta?: number;
  maxPositionEmbeddings?: number;
}): ModelConfig {
  return parseModelConfig(
    {
      model_type: opts.modelType ?? "llama",
      vocab_size: opts.vocabSize,
      hidden_size: opts.hiddenSize,
      intermediate_size: opts.intermediateSize,
      num_hidden_layers: opts.numLayers,
      num_attention_heads: opts.numHeads,
      num_key_value_heads: opts.numKvHeads ?? opts.numHeads,
      head_dim: opts.headDim,
      rms_norm_eps: 1e-5,
      rope_theta: opts.ropeTheta ?? 10000,
      max_position_embeddings: opts.maxPositionEmbeddings ?? 2048,
      tie_word_embeddings: opts.tieWordEmbeddings ?? false,
      bos_token_id: 1,
      eos_token_id: 2,
    },
    "custom model config",
  );
}

/** Every tensor a checkpoint of this config holds: HF name → shape (HF layout, linear weights [out, in]). */
export function checkpointShapes(c: ModelConfig): Map<string, number[]> {
  const d = c.hiddenSize;
  const qOut = c.numHeads * c.headDim;
  const kvOut = c.numKvHeads * c.headDim;
  const shapes = new Map<string, number[]>([["model.embed_tokens.weight", [c.vocabSize, d]]]);
  const lin = (m: string, inDim: number, outDim: number, bias: boolean) => {
    shapes.set(`${m}.weight`, [outDim, inDim]);
    if (bias) shapes.set(`${m}.bias`, [outDim]);
  };
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    shapes.set(`${p}.input_layernorm.weight`, [d]);
    lin(`${p}.self_attn.q_proj`, d, qOut, c.qkvBias);
    lin(`${p}.self_attn.k_proj`, d, kvOut, c.qkvBias);
    lin(`${p}.self_attn.v_proj`, d, kvOut, c.qkvBias);
    lin(`${p}.self_attn.o_proj`, qOut, d, c.oBias);
    shapes.set(`${p}.post_attention_layernorm.weight`, [d]);
    lin(`${p}.mlp.gate_proj`, d, c.intermediateSize, c.mlpBias);
    lin(`${p}.mlp.up_proj`, d, c.intermediateSize, c.mlpBias);
    lin(`${p}.mlp.down_proj`, c.intermediateSize, d, c.mlpBias);
  }
  shapes.set("model.norm.weight", [d]);
  if (!c.tieWordEmbeddings) shapes.set("lm_head.weight", [c.vocabSize, d]);
  return shapes;
}

/**
 * Random-init weights (HF initializer_range 0.02: uniform with std 0.02, drawn from the seeded Rng; norms = 1,
 * biases = 0). For big presets prefer randomWeightSource, which builds one tensor at a time.
 */
export function randomWeights(config: ModelConfig, rng: Rng, std = 0.02): Map<string, tf.Tensor> {
  const src = randomWeightSource(config, rng, std);
  return new Map([...checkpointShapes(config)].map(([name, shape]) => [name, src(name, shape)]));
}

/** The same as randomWeights, as a WeightSource for buildDecoder (peak memory: the model plus one tensor). */
export function randomWeightSource(
  config: ModelConfig,
  rng: Rng,
  std = 0.02,
): (name: string, shape: readonly number[]) => tf.Tensor {
  const values = randomWeightValues(config, rng, std);
  return (name, shape) => tf.tensor(values(name, shape), [...shape], "float32");
}

/** randomWeightSource's values, as arrays. */
export function randomWeightValues(
  config: ModelConfig,
  rng: Rng,
  std = 0.02,
): (name: string, shape: readonly number[]) => Float32Array {
  void config;
  const a = std * Math.sqrt(3); // U(−a, a) has standard deviation std
  return (name, shape) => {
    const n = shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    if (name.endsWith("norm.weight")) data.fill(1);
    else if (!name.endsWith(".bias")) for (let i = 0; i < n; i++) data[i] = (2 * rng.uniform() - 1) * a;
    return data;
  };
}
