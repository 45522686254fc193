// LoRA adapters on the decoder's linear layers (Hu et al. 2021; PEFT's LoraLayer): W = W0 + s·B·A with A [r, in],
// B [out, r], s = alpha/r (alpha/√r with rsLoRA). PEFT init: A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in) drawn
// from the run's seeded Rng, B = 0, float32 Variables named `<module>.lora_A.weight` / `.lora_B.weight`.
// The forward (dropout on the LoRA branch only) lives in src/models/decoder.ts; this file makes, loads and saves pairs.
import * as tf from "@tensorflow/tfjs";
import { LORA_TARGETS, loraScaling, type LoraConfig, type LoraTarget } from "../config.ts";
import type { Decoder } from "../models/decoder.ts";
import type { ModelConfig } from "../models/model-config.ts";
import type { LoraPair } from "./pair.ts";
import type { Rng } from "../util/rng.ts";
import { readPeftAdapter, writePeftAdapter, type AdapterTensors } from "./peft-format.ts";
import { readMany } from "../util/read.ts";

export interface LoraModule {
  /** HF module path, e.g. "model.layers.0.self_attn.q_proj". */
  readonly module: string;
  readonly inDim: number;
  readonly outDim: number;
}

/** The adapted modules for these targets, in layer order then q,k,v,o,gate,up,down (the order init draws in). */
export function loraModules(config: ModelConfig, targets: readonly LoraTarget[]): LoraModule[] {
  const d = config.hiddenSize;
  const qOut = config.numHeads * config.headDim;
  const kvOut = config.numKvHeads * config.headDim;
  const dims: Record<LoraTarget, [number, number]> = {
    q_proj: [d, qOut],
    k_proj: [d, kvOut],
    v_proj: [d, kvOut],
    o_proj: [qOut, d],
    gate_proj: [d, config.intermediateSize],
    up_proj: [d, config.intermediateSize],
    down_proj: [config.intermediateSize, d],
  };
  for (const t of targets)
    if (!(LORA_TARGETS as readonly string[]).includes(t))
      throw new Error(`unknown LoRA target "${t}"; choose from ${LORA_TARGETS.join(", ")}`);
  const out: LoraModule[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    for (const t of LORA_TARGETS) {
      if (!targets.includes(t)) continue;
      const kind = t === "gate_proj" || t === "up_proj" || t === "down_proj" ? "mlp" : "self_attn";
      const [inDim, outDim] = dims[t];
      out.push({ module: `model.layers.${i}.${kind}.${t}`, inDim, outDim });
    }
  }
  return out;
}

/** One pair from explicit values (row-major A [r, in], B [out, r]); zeros where a value array is not given. */
export function createLoraPair(
  m: LoraModule,
  r: number,
  scaling: number,
  values: { A?: Float32Array; B?: Float32Array } = {},
): LoraPair {
  // tf.variable shares the initial tensor's data; tidy frees the initial tensor objects.
  const [A, B] = tf.tidy(() => [
    tf.variable(
      tf.tensor2d(values.A ?? new Float32Array(r * m.inDim), [r, m.inDim]),
      true,
      `${m.module}.lora_A.weight`,
    ),
    tf.variable(
      tf.tensor2d(values.B ?? new Float32Array(m.outDim * r), [m.outDim, r]),
      true,
      `${m.module}.lora_B.weight`,
    ),
  ]) as [tf.Variable, tf.Variable];
  return { module: m.module, A, B, scaling, inDim: m.inDim, outDim: m.outDim, r };
}

/** Fresh pairs with PEFT's init, attached to the decoder (replacing any attached before). Returns them. */
export function injectLora(decoder: Decoder, lora: LoraConfig, rng: Rng): LoraPair[] {
  const scaling = loraScaling(lora);
  // Variable names are global in tfjs: free the previous pairs before making ones with the same names.
  disposePairs(decoder.removeLora());
  const pairs: LoraPair[] = [];
  try {
    for (const m of loraModules(decoder.config, lora.targets)) {
      const bound = 1 / Math.sqrt(m.inDim);
      const A = new Float32Array(lora.r * m.inDim);
      for (let i = 0; i < A.length; i++) A[i] = (2 * rng.uniform() - 1) * bound;
      pairs.push(createLoraPair(m, lora.r, scaling, { A }));
    }
  } catch (e) {
    disposePairs(pairs);
    throw e;
  }
  decoder.attachLora(pairs, { dropout: lora.dropout });
  return pairs;
}

export function disposePairs(pairs: readonly Pick<LoraPair, "A" | "B">[]): void {
  for (const p of pairs) {
    p.A.dispose();
    p.B.dispose();
  }
}

/** Copy a PEFT adapter's values into existing pairs; modules, ranks and shapes must match exactly. */
export function loadAdapterInto(pairs: readonly LoraPair[], dir: string): void {
  const { tensors } = readPeftAdapter(dir);
  const byModule = new Map(tensors.map((t) => [t.module, t]));
  const ours = new Set(pairs.map((p) => p.module));
  const extra = tensors.filter((t) => !ours.has(t.module)).map((t) => t.module);
  const missing = pairs.filter((p) => !byModule.has(p.module)).map((p) => p.module);
  if (extra.length || missing.length) {
    throw new Error(
      `${dir}: the adapter's modules do not match this run's LoRA targets` +
        (missing.length ? `; missing: ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", …" : ""}` : "") +
        (extra.length ? `; not targeted here: ${extra.slice(0, 3).join(", ")}${extra.length > 3 ? ", …" : ""}` : "") +
        ` (the adapter must hold every targeted layer of this model: was it trained on another model?)`,
    );
  }
  for (const p of pairs) {
    const t = byModule.get(p.module)!;
    for (const [name, v, want] of [
      ["lora_A", t.A, [p.r, p.inDim]],
      ["lora_B", t.B, [p.outDim, p.r]],
    ] as const) {
      if (v.shape[0] !== want[0] || v.shape[1] !== want[1]) {
        throw new Error(
          `${dir}: ${p.module}.${name} has shape [${v.shape.join(", ")}], expected [${want.join(", ")}] ` +
            `(lora.r = ${p.r}, layer [out ${p.outDim}, in ${p.inDim}]); ` +
            `the adapter was trained with another rank or on another model: start from an adapter of this model`,
        );
      }
    }
    tf.tidy(() => {
      p.A.assign(tf.tensor2d(t.A.data, t.A.shape));
      p.B.assign(tf.tensor2d(t.B.data, t.B.shape));
    });
  }
}

/** Read a PEFT adapter folder into new pairs attached to the decoder (its r, alpha, rsLoRA and modules). */
export function loadAdapter(decoder: Decoder, dir: string): LoraPair[] {
  const { config, tensors } = readPeftAdapter(dir);
  const scaling = loraScaling({ r: config.r, alpha: config.lora_alpha, rslora: config.use_rslora });
  const known = new Map(loraModules(decoder.config, LORA_TARGETS).map((m) => [m.module, m]));
  disposePairs(decoder.removeLora());
  const pairs: LoraPair[] = [];
  try {
    const rank = new Map([...known.keys()].map((k, i) => [k, i]));
    const ordered = [...tensors].sort((a, b) => (rank.get(a.module) ?? -1) - (rank.get(b.module) ?? -1)); // layer, then q…down
    for (const t of ordered) {
      const m = known.get(t.module);
      if (!m)
        throw new Error(
          `${dir}: adapter module "${t.module}" is not a linear layer of this model (${decoder.config.modelType}, ${decoder.config.numLayers} layers)`,
        );
      const bad =
        t.A.shape[1] !== m.inDim
          ? { name: "lora_A", shape: t.A.shape, want: [config.r, m.inDim] }
          : t.B.shape[0] !== m.outDim
            ? { name: "lora_B", shape: t.B.shape, want: [m.outDim, config.r] }
            : null;
      if (bad) {
        const named = config.base_model_name_or_path;
        const base = named ? ` ("${named}" per its adapter_config.json)` : "";
        throw new Error(
          `${dir}: tensor ${t.module}.${bad.name}.weight has shape [${bad.shape.join(", ")}], ` +
            `but this model's layer ${t.module} is [out ${m.outDim}, in ${m.inDim}], ` +
            `so it must be [${bad.want.join(", ")}]: the adapter was trained on another model${base}; ` +
            `apply it to that model, or train an adapter for this one`,
        );
      }
      pairs.push(createLoraPair(m, config.r, scaling, { A: t.A.data, B: t.B.data }));
    }
  } catch (e) {
    disposePairs(pairs);
    throw e;
  }
  decoder.attachLora(pairs, { dropout: config.lora_dropout });
  return pairs;
}

/** Write the pairs as a PEFT adapter folder (adapter_config.json + adapter_model.safetensors, float32). */
export async function saveAdapter(
  pairs: readonly LoraPair[],
  dir: string,
  meta: { baseModel: string | null; lora: Pick<LoraConfig, "alpha" | "dropout" | "rslora"> },
): Promise<void> {
  if (pairs.length === 0) throw new Error(`saveAdapter(${dir}): no LoRA pairs to save`);
  const r = pairs[0]!.r;
  const targets = [...new Set(pairs.map((p) => p.module.split(".").pop()!))];
  const tensors: AdapterTensors[] = [];
  for (const p of pairs) {
    const [A, B] = await readMany(() => [p.A, p.B]);
    tensors.push({ module: p.module, A: { shape: [p.r, p.inDim], data: A! }, B: { shape: [p.outDim, p.r], data: B! } });
  }
  writePeftAdapter(
    dir,
    {
      r,
      lora_alpha: meta.lora.alpha,
      lora_dropout: meta.lora.dropout,
      target_modules: targets,
      use_rslora: meta.lora.rslora,
      base_model_name_or_path: meta.baseModel,
    },
    tensors,
  );
}
