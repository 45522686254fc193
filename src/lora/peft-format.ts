// PEFT LoRA adapter folders, as huggingface/peft writes and reads them (docs/peft.md §1):
// adapter_config.json (the LoraConfig dataclass, keys sorted, indent 2) + adapter_model.safetensors with keys
// `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r], float32, metadata {format: pt}.
// Reading also accepts the adapter-named keys PEFT uses in memory (`lora_A.default.weight`) and half precision,
// and rejects what our LoRA does not implement (DoRA, fan_in_fan_out, biases, per-module rank/alpha patterns,
// LoRA on some layers only).
import * as fs from "node:fs";
import * as path from "node:path";
import { writeJsonAtomic } from "../results.ts";
import { openCheckpoint, writeSafetensors, type TensorToWrite } from "../models/safetensors.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";
const PREFIX = "base_model.model.";

export interface AdapterTensors {
  /** HF module path, e.g. "model.layers.0.self_attn.q_proj". */
  module: string;
  A: { shape: [number, number]; data: Float32Array }; // [r, in]
  B: { shape: [number, number]; data: Float32Array }; // [out, r]
}

/** PEFT's LoraConfig fields. The first block is required; writePeftAdapter fills the rest with PEFT's values. */
export interface PeftAdapterConfig {
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[];
  use_rslora: boolean;
  base_model_name_or_path: string | null;
  peft_type?: "LORA";
  task_type?: string;
  revision?: string | null;
  bias?: "none";
  fan_in_fan_out?: boolean;
  init_lora_weights?: boolean;
  inference_mode?: boolean;
  use_dora?: boolean;
  lora_bias?: boolean;
  modules_to_save?: string[] | null;
  rank_pattern?: Record<string, number>;
  alpha_pattern?: Record<string, number>;
  layers_to_transform?: number[] | null;
  layers_pattern?: string | null;
  exclude_modules?: string[] | null;
  auto_mapping?: unknown;
  layer_replication?: unknown;
  loftq_config?: Record<string, unknown>;
  megatron_config?: unknown;
  megatron_core?: string;
}

export class PeftFormatError extends Error {
  override name = "PeftFormatError";
}

/** The config PEFT would save for these settings (LoraConfig defaults for everything not given). */
export function completePeftConfig(cfg: PeftAdapterConfig): Required<PeftAdapterConfig> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    bias: "none",
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_bias: false,
    megatron_config: null,
    megatron_core: "megatron.core",
    modules_to_save: null,
    peft_type: "LORA",
    rank_pattern: {},
    revision: null,
    task_type: "CAUSAL_LM",
    use_dora: false,
    ...cfg,
  };
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}

/** Natural order: "layers.2" before "layers.10". */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

function checkPair(where: string, t: AdapterTensors, r: number): void {
  const [rA, inDim] = t.A.shape;
  const [outDim, rB] = t.B.shape;
  if (t.A.data.length !== rA * inDim)
    throw new PeftFormatError(
      `${where}: lora_A of ${t.module} has ${t.A.data.length} values for shape [${rA}, ${inDim}]`,
    );
  if (t.B.data.length !== outDim * rB)
    throw new PeftFormatError(
      `${where}: lora_B of ${t.module} has ${t.B.data.length} values for shape [${outDim}, ${rB}]`,
    );
  if (rA !== rB)
    throw new PeftFormatError(
      `${where}: ${t.module}: lora_A is [${rA}, ${inDim}] and lora_B is [${outDim}, ${rB}]; their ranks differ (A must be [r, in], B [out, r])`,
    );
  if (rA !== r) throw new PeftFormatError(`${where}: ${t.module} has rank ${rA} but the adapter config says r = ${r}`);
}

/** Write `dir/adapter_config.json` and `dir/adapter_model.safetensors` (F32), each atomically. */
export function writePeftAdapter(dir: string, cfg: PeftAdapterConfig, tensors: readonly AdapterTensors[]): void {
  const full = completePeftConfig(cfg);
  if (!Number.isInteger(full.r) || full.r <= 0)
    throw new PeftFormatError(`${dir}: adapter r must be a positive integer, got ${full.r}`);
  const seen = new Set<string>();
  const out: TensorToWrite[] = [];
  for (const t of tensors) {
    if (seen.has(t.module)) throw new PeftFormatError(`${dir}: module ${t.module} given twice`);
    seen.add(t.module);
    checkPair(dir, t, full.r);
    out.push({ name: `${PREFIX}${t.module}.lora_A.weight`, shape: t.A.shape, data: t.A.data });
    out.push({ name: `${PREFIX}${t.module}.lora_B.weight`, shape: t.B.shape, data: t.B.data });
  }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), out, { format: "pt" });
  writeJsonAtomic(path.join(dir, ADAPTER_CONFIG), sortKeys(full as unknown as Record<string, unknown>));
}

function readConfig(dir: string): PeftAdapterConfig {
  const file = path.join(dir, ADAPTER_CONFIG);
  if (!fs.existsSync(file))
    throw new PeftFormatError(
      `${dir}: no ${ADAPTER_CONFIG}; an adapter folder is what PEFT's save_pretrained writes (adapter_config.json + adapter_model.safetensors)`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new PeftFormatError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new PeftFormatError(`${file}: not a JSON object`);
  const c = raw as Record<string, unknown>;
  if (c.peft_type !== "LORA")
    throw new PeftFormatError(
      `${file}: peft_type is ${JSON.stringify(c.peft_type)}; only "LORA" adapters are supported`,
    );
  const num = (k: string, dflt?: number): number => {
    const v = c[k] ?? dflt;
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new PeftFormatError(`${file}: "${k}" must be a number, got ${JSON.stringify(c[k])}`);
    return v;
  };
  const r = num("r");
  if (!Number.isInteger(r) || r <= 0) throw new PeftFormatError(`${file}: "r" must be a positive integer, got ${r}`);
  const target = c.target_modules;
  if (typeof target === "string")
    throw new PeftFormatError(
      `${file}: target_modules is the pattern ${JSON.stringify(target)}; only a list of module names (e.g. ["q_proj", "v_proj"]) is supported`,
    );
  if (!Array.isArray(target) || !target.every((x) => typeof x === "string"))
    throw new PeftFormatError(`${file}: "target_modules" must be a list of module names`);
  const unsupported: string[] = [];
  if (c.use_dora === true) unsupported.push("use_dora: true (DoRA)");
  if (c.fan_in_fan_out === true) unsupported.push("fan_in_fan_out: true (Conv1D layout)");
  if (c.bias !== undefined && c.bias !== "none") unsupported.push(`bias: ${JSON.stringify(c.bias)}`);
  if (c.lora_bias === true) unsupported.push("lora_bias: true");
  for (const k of ["rank_pattern", "alpha_pattern"])
    if (c[k] && typeof c[k] === "object" && Object.keys(c[k] as object).length)
      unsupported.push(`${k} (per-module ${k === "rank_pattern" ? "rank" : "alpha"})`);
  if (Array.isArray(c.modules_to_save) && c.modules_to_save.length)
    unsupported.push("modules_to_save (fully trained extra modules)");
  if (c.layers_to_transform !== undefined && c.layers_to_transform !== null) {
    unsupported.push("layers_to_transform (LoRA on some layers only)");
  }
  if (unsupported.length)
    throw new PeftFormatError(
      `${file}: uses ${unsupported.join(", ")}, which this LoRA implementation does not support`,
    );
  return {
    ...(c as Partial<PeftAdapterConfig>),
    peft_type: "LORA",
    r,
    lora_alpha: num("lora_alpha", 8),
    lora_dropout: num("lora_dropout", 0),
    target_modules: target as string[],
    use_rslora: c.use_rslora === true,
    base_model_name_or_path: typeof c.base_model_name_or_path === "string" ? c.base_model_name_or_path : null,
  };
}

/** Read and check only an adapter folder's adapter_config.json (no tensors). */
export function readPeftConfig(dir: string): PeftAdapterConfig {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new PeftFormatError(`adapter folder ${dir} not found`);
  }
  return readConfig(dir);
}

const KEY = /^base_model\.model\.(.+)\.lora_(A|B)(?:\.([^.]+))?\.weight$/;

/** Read an adapter folder. Tensors come back in natural module order, converted to float32. */
export function readPeftAdapter(dir: string): { config: PeftAdapterConfig; tensors: AdapterTensors[] } {
  const config = readPeftConfig(dir);
  const file = path.join(dir, ADAPTER_WEIGHTS);
  if (!fs.existsSync(file)) {
    const bin = fs.existsSync(path.join(dir, "adapter_model.bin"))
      ? " (found adapter_model.bin: re-save it with safe_serialization=True)"
      : "";
    throw new PeftFormatError(`${dir}: no ${ADAPTER_WEIGHTS}${bin}`);
  }
  const ck = openCheckpoint(file);
  try {
    const pairs = new Map<string, { A?: string; B?: string }>();
    let adapterName: string | undefined | null = null; // null: not seen yet; undefined: keys without a name
    for (const name of ck.entries.keys()) {
      const m = KEY.exec(name);
      if (!m)
        throw new PeftFormatError(
          `${file}: unexpected tensor "${name}"; only LoRA weights "base_model.model.<module>.lora_A.weight" / ".lora_B.weight" are supported`,
        );
      const [, module, which, adapter] = m as unknown as [string, string, "A" | "B", string | undefined];
      if (adapterName !== null && adapterName !== adapter)
        throw new PeftFormatError(
          `${file}: holds more than one adapter (names "${adapterName ?? ""}" and "${adapter ?? ""}" in tensor "${name}"); save one adapter per folder`,
        );
      adapterName = adapter;
      const p = pairs.get(module) ?? {};
      p[which] = name;
      pairs.set(module, p);
    }
    if (pairs.size === 0) throw new PeftFormatError(`${file}: holds no LoRA tensors`);
    const tensors: AdapterTensors[] = [];
    for (const module of [...pairs.keys()].sort(naturalCompare)) {
      const p = pairs.get(module)!;
      for (const w of ["A", "B"] as const) {
        if (!p[w])
          throw new PeftFormatError(
            `${file}: module ${module} has lora_${w === "A" ? "B" : "A"} but no lora_${w}; the adapter file is incomplete`,
          );
      }
      const eA = ck.entries.get(p.A!)!,
        eB = ck.entries.get(p.B!)!;
      for (const e of [eA, eB])
        if (e.shape.length !== 2)
          throw new PeftFormatError(
            `${file}: tensor "${e.name}" has shape [${e.shape.join(", ")}]; LoRA factors are 2-D`,
          );
      const t: AdapterTensors = {
        module,
        A: { shape: [eA.shape[0]!, eA.shape[1]!], data: ck.readF32(p.A!) },
        B: { shape: [eB.shape[0]!, eB.shape[1]!], data: ck.readF32(p.B!) },
      };
      checkPair(file, t, config.r);
      if (!config.target_modules.some((tm) => module === tm || module.endsWith(`.${tm}`))) {
        throw new PeftFormatError(
          `${file}: module ${module} has LoRA weights but is not in target_modules [${config.target_modules.join(", ")}] of ${ADAPTER_CONFIG}`,
        );
      }
      tensors.push(t);
    }
    return { config, tensors };
  } finally {
    ck.close();
  }
}
