// ModelConfig: the architecture hyperparameters of a Llama/Qwen2 decoder, parsed from a Hugging Face config.json
// (transformers' LlamaConfig / Qwen2Config field names and defaults). Supported: model_type "llama" and "qwen2",
// rope_scaling null or "llama3". Anything else fails here, naming the file and field, before weights are read.
import * as fs from "node:fs";
import * as path from "node:path";

export const SUPPORTED_MODEL_TYPES = ["llama", "qwen2"] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

/** transformers' `_compute_llama3_parameters` inputs (Llama 3.1/3.2). */
export interface Llama3RopeScaling {
  readonly type: "llama3";
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositionEmbeddings: number;
}

export interface ModelConfig {
  readonly modelType: ModelType;
  readonly vocabSize: number;
  /** d, the residual width. */
  readonly hiddenSize: number;
  /** SwiGLU inner width (gate/up output). */
  readonly intermediateSize: number;
  readonly numLayers: number;
  /** H query heads. */
  readonly numHeads: number;
  /** KV heads (GQA: H / numKvHeads query heads share one). */
  readonly numKvHeads: number;
  /** Per-head width (explicit `head_dim`, else hidden / heads). */
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: Llama3RopeScaling | null;
  readonly maxPositionEmbeddings: number;
  /** lm_head shares the embedding matrix. */
  readonly tieWordEmbeddings: boolean;
  /** q/k/v projections have a bias (Qwen2: always; Llama: `attention_bias`). */
  readonly qkvBias: boolean;
  /** o_proj has a bias (Llama `attention_bias` only; Qwen2 never). */
  readonly oBias: boolean;
  /** gate/up/down have a bias (Llama `mlp_bias`). */
  readonly mlpBias: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
}

export class ModelConfigError extends Error {
  override name = "ModelConfigError";
}

/** Read and parse `<dir>/config.json`. */
export function readModelConfig(dir: string): ModelConfig {
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(dir))
    throw new ModelConfigError(
      `${dir}: model folder not found (give a folder with config.json + *.safetensors, or a hub id such as Qwen/Qwen2-0.5B)`,
    );
  if (!fs.existsSync(file))
    throw new ModelConfigError(
      `${file}: not found; a model folder needs the Hugging Face config.json next to its *.safetensors`,
    );
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ModelConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseModelConfig(json, file);
}

/** Parse a config.json object (`source` names it in errors). */
export function parseModelConfig(json: unknown, source = "config.json"): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new ModelConfigError(`${source}: expected a JSON object`);
  const c = json as Record<string, unknown>;
  const modelType = c.model_type;
  if (typeof modelType !== "string" || !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new ModelConfigError(
      `${source}: model_type ${JSON.stringify(modelType)} is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(", ")} ` +
        `(LlamaForCausalLM, Qwen2ForCausalLM)`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0)
      throw new ModelConfigError(`${source}: "${key}" must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !(v > 0))
      throw new ModelConfigError(`${source}: "${key}" must be a positive number, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== "boolean")
      throw new ModelConfigError(`${source}: "${key}" must be true or false, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const hiddenSize = int("hidden_size");
  const numHeads = int("num_attention_heads");
  const numKvHeads = int("num_key_value_heads", numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new ModelConfigError(
      `${source}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  const headDim = c.head_dim === undefined || c.head_dim === null ? hiddenSize / numHeads : int("head_dim");
  if (!Number.isInteger(headDim))
    throw new ModelConfigError(
      `${source}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}; give "head_dim"`,
    );
  if (headDim % 2 !== 0) throw new ModelConfigError(`${source}: head_dim ${headDim} must be even for RoPE`);
  const act = c.hidden_act ?? "silu";
  if (act !== "silu")
    throw new ModelConfigError(
      `${source}: hidden_act "${String(act)}" is not supported (only "silu", the SwiGLU of Llama/Qwen2)`,
    );
  if (modelType === "qwen2" && c.use_sliding_window === true) {
    throw new ModelConfigError(
      `${source}: use_sliding_window=true is not supported (full causal attention only); set it to false`,
    );
  }
  const attentionBias = bool("attention_bias", false);
  const ids = (key: string): number[] => {
    const v = c[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0))
      throw new ModelConfigError(`${source}: "${key}" must be a token id or a list of ids, got ${JSON.stringify(v)}`);
    return list as number[];
  };
  return {
    modelType: modelType as ModelType,
    vocabSize: int("vocab_size"),
    hiddenSize,
    intermediateSize: int("intermediate_size"),
    numLayers: int("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", 10000),
    ropeScaling: parseRopeScaling(c.rope_scaling, source),
    maxPositionEmbeddings: int("max_position_embeddings", 2048),
    tieWordEmbeddings: bool("tie_word_embeddings", false),
    qkvBias: modelType === "qwen2" ? true : attentionBias,
    oBias: modelType === "qwen2" ? false : attentionBias,
    mlpBias: modelType === "llama" ? bool("mlp_bias", false) : false,
    bosTokenId: ids("bos_token_id")[0] ?? null,
    eosTokenIds: ids("eos_token_id"),
  };
}

function parseRopeScaling(v: unknown, source: string): Llama3RopeScaling | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v))
    throw new ModelConfigError(`${source}: "rope_scaling" must be null or an object`);
  const r = v as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === "default") return null;
  if (type !== "llama3") {
    throw new ModelConfigError(
      `${source}: rope_scaling type ${JSON.stringify(type)} is not supported; supported: null, "default", "llama3"`,
    );
  }
  const pos = (key: string): number => {
    const x = r[key];
    if (typeof x !== "number" || !(x > 0))
      throw new ModelConfigError(`${source}: rope_scaling.${key} must be a positive number, got ${JSON.stringify(x)}`);
    return x;
  };
  const s: Llama3RopeScaling = {
    type: "llama3",
    factor: pos("factor"),
    lowFreqFactor: pos("low_freq_factor"),
    highFreqFactor: pos("high_freq_factor"),
    originalMaxPositionEmbeddings: pos("original_max_position_embeddings"),
  };
  if (!(s.highFreqFactor > s.lowFreqFactor))
    throw new ModelConfigError(`${source}: rope_scaling.high_freq_factor must exceed low_freq_factor`);
  return s;
}

/** config.json for a ModelConfig (inverse of parseModelConfig; used for random-init models and fixtures). */
export function toHfConfigJson(c: ModelConfig): Record<string, unknown> {
  return {
    architectures: [c.modelType === "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: "silu",
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: c.ropeScaling && {
      rope_type: "llama3",
      factor: c.ropeScaling.factor,
      low_freq_factor: c.ropeScaling.lowFreqFactor,
      high_freq_factor: c.ropeScaling.highFreqFactor,
      original_max_position_embeddings: c.ropeScaling.originalMaxPositionEmbeddings,
    },
    max_position_embeddings: c.maxPositionEmbeddings,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.modelType === "llama" ? { attention_bias: c.qkvBias, mlp_bias: c.mlpBias } : { use_sliding_window: false }),
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds,
    torch_dtype: "float32",
  };
}

/** Number of parameters (the checkpoint's, lm_head counted once when tied). */
export function parameterCount(c: ModelConfig): number {
  const d = c.hiddenSize;
  const qOut = c.numHeads * c.headDim;
  const kvOut = c.numKvHeads * c.headDim;
  const attn = d * qOut + 2 * d * kvOut + qOut * d + (c.qkvBias ? qOut + 2 * kvOut : 0) + (c.oBias ? d : 0);
  const mlp = 3 * d * c.intermediateSize + (c.mlpBias ? 2 * c.intermediateSize + d : 0);
  const perLayer = attn + mlp + 2 * d;
  return c.vocabSize * d * (c.tieWordEmbeddings ? 1 : 2) + c.numLayers * perLayer + d;
}
