// Load a Hugging Face model folder (or hub id) into a Decoder: config.json → ModelConfig, safetensors → frozen
// float32 tensors streamed one at a time (peak memory ≈ the model plus one tensor), tokenizer.json → Tokenizer.
// Every mismatch (missing/extra tensor, wrong shape) names the tensor and the file.
import * as tf from "@tensorflow/tfjs";
import { checkTensorsFit, placeOnDevice, type BackendInfo } from "../backend.ts";
import { resolveModel, type HubOptions } from "../hub.ts";
import { buildDecoder, WeightShapeError, type Decoder } from "./decoder.ts";
import { readModelConfig, type ModelConfig } from "./model-config.ts";
import { checkpointShapes } from "./presets.ts";
import { openCheckpoint, similarNames } from "./safetensors.ts";
import { loadTokenizer, type Tokenizer } from "./tokenizer.ts";

export interface LoadedModel {
  /** The local folder the model was read from. */
  readonly dir: string;
  readonly config: ModelConfig;
  readonly decoder: Decoder;
  readonly tokenizer: Tokenizer;
  readonly backend: BackendInfo;
}

/** Tensors a checkpoint may hold that the decoder does not use. */
const IGNORABLE = /(^|\.)rotary_emb\.inv_freq$/;

/** Read the decoder weights of a local model folder (config.json + *.safetensors). */
export function loadDecoder(dir: string, config: ModelConfig = readModelConfig(dir)): Decoder {
  const ck = openCheckpoint(dir);
  try {
    const expected = checkpointShapes(config);
    checkTensorsFit(expected, dir);
    const unused = [...ck.entries.keys()].filter(
      (n) => !expected.has(n) && !IGNORABLE.test(n) && !(config.tieWordEmbeddings && n === "lm_head.weight"),
    );
    if (unused.length) {
      throw new WeightShapeError(
        `${dir}: the checkpoint has ${unused.length} tensor(s) that config.json does not describe (${unused.slice(0, 3).join(", ")}${unused.length > 3 ? ", …" : ""}); ` +
          `does config.json (model_type ${config.modelType}, ${config.numLayers} layers) belong to these weights?`,
      );
    }
    return buildDecoder(config, (name, shape) => {
      if (!ck.has(name)) {
        const like = similarNames(name, ck.entries.keys());
        throw new WeightShapeError(
          `${ck.path}: tensor "${name}" (shape [${shape.join(", ")}]) is missing from the checkpoint${like.length ? ` (closest: ${like.join(", ")})` : ""}`,
        );
      }
      return placeOnDevice(tf.tensor(ck.readF32(name, shape), [...shape], "float32"));
    });
  } finally {
    ck.close();
  }
}

/**
 * Resolve `modelIdOrDir` (local folder or hub id) and load config, weights and tokenizer onto the backend the caller
 * started (the entry point chooses and starts the backend once: src/backend.ts initBackend).
 */
export async function loadModel(
  modelIdOrDir: string,
  backend: BackendInfo,
  opts: { hub?: HubOptions } = {},
): Promise<LoadedModel> {
  const dir = await resolveModel(modelIdOrDir, opts.hub);
  const config = readModelConfig(dir);
  const tokenizer = await loadTokenizer(dir);
  const decoder = loadDecoder(dir, config);
  return { dir, config, decoder, tokenizer, backend };
}
