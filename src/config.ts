// RunConfig: everything one training/evaluation run depends on. DEFAULT_RUN_CONFIG is the only place a default
// lives; experiments and `--set key=value` override only what differs. Unknown keys and wrong types fail before any
// tensor is allocated (zod, strict objects), with the offending key path in the message.
import { z } from "zod";
import { BACKEND_CHOICES } from "./backend.ts";

/** The optimizers of the study, one file each in src/optim/. */
export const OPTIMIZER_NAMES = ["adamw", "lora-plus", "riemannian", "lora-rite", "stable-lora"] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export const LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

const probability = z.number().min(0).lt(1);

// Each optimizer has its own typed config: a run's config (and so its id hash) holds only the settings its optimizer
// uses, so changing LoRA+'s ratio or Stable-LoRA's λ never renames an AdamW run (docs/scale-out.md, "Run ids").
const adamKeys = {
  /** Peak learning rate η (the schedule scales it). */
  lr: z.number().positive(),
  /** Decoupled weight decay w, as torch.optim.AdamW. */
  weightDecay: z.number().min(0),
  betas: z.tuple([probability, probability]),
  eps: z.number().positive(),
};

export const AdamWConfigSchema = z.object({ name: z.literal("adamw"), ...adamKeys }).strict();

export const LoraPlusConfigSchema = z
  .object({
    name: z.literal("lora-plus"),
    ...adamKeys,
    /** LoRA+: lr_B = lrRatio · lr_A. */
    lrRatio: z.number().positive(),
  })
  .strict();

export const RiemannianConfigSchema = z
  .object({
    name: z.literal("riemannian"),
    ...adamKeys,
    /** Riemannian: damping δ in (BᵀB + δI)⁻¹ and (AAᵀ + δI)⁻¹. */
    delta: z.number().min(0),
  })
  .strict();

export const LoraRiteConfigSchema = z
  .object({
    name: z.literal("lora-rite"),
    ...adamKeys,
    /** LoRA-RITE: clip_unmagnified_grad: scale all unmagnified gradients by c/N when their global norm N > c (0 = off). */
    clipUnmagnifiedGrad: z.number().min(0),
    /** LoRA-RITE: update_skipping: zero one factor's unmagnified gradient when its RMS exceeds this (0 = off). */
    updateSkipping: z.number().min(0),
    /** LoRA-RITE: update_capping: scale each factor's update down to this RMS (0 = off). */
    updateCapping: z.number().min(0),
    /** LoRA-RITE: the port's apply_escape (add the "escaped mass" ρ as isotropic damping; port default false). */
    applyEscape: z.boolean(),
  })
  .strict();

export const StableLoraConfigSchema = z
  .object({
    name: z.literal("stable-lora"),
    ...adamKeys,
    /** Stable-LoRA shrink ratio λ ∈ [0, 1): A ← (1−λ)A before each step until ‖A‖/n < ‖B‖/m. */
    lambda: probability,
    /** Stable-LoRA: false = the paper's "w/o stability condition" ablation (shrink forever). */
    stopCondition: z.boolean(),
  })
  .strict();

export const OptimizerConfigSchema = z.discriminatedUnion("name", [
  AdamWConfigSchema,
  LoraPlusConfigSchema,
  RiemannianConfigSchema,
  LoraRiteConfigSchema,
  StableLoraConfigSchema,
]);
export type OptimizerConfig = z.infer<typeof OptimizerConfigSchema>;
export type AdamWConfig = z.infer<typeof AdamWConfigSchema>;
export type LoraPlusConfig = z.infer<typeof LoraPlusConfigSchema>;
export type RiemannianConfig = z.infer<typeof RiemannianConfigSchema>;
export type LoraRiteConfig = z.infer<typeof LoraRiteConfigSchema>;
export type StableLoraConfig = z.infer<typeof StableLoraConfigSchema>;
/** The settings every optimizer shares (AdamW's). */
export type AdamLikeConfig = Pick<AdamWConfig, "lr" | "weightDecay" | "betas" | "eps">;
export type OptimizerConfigOf<N extends OptimizerName> = Extract<OptimizerConfig, { name: N }>;

const ADAM_DEFAULTS = { lr: 1e-4, weightDecay: 0.01, betas: [0.9, 0.999] as [number, number], eps: 1e-8 };

/** Each optimizer's defaults: the only place an optimizer default lives. */
export const OPTIMIZER_DEFAULTS: { readonly [N in OptimizerName]: OptimizerConfigOf<N> } = {
  adamw: { name: "adamw", ...ADAM_DEFAULTS },
  "lora-plus": { name: "lora-plus", ...ADAM_DEFAULTS, lrRatio: 16 }, // LoRA+ authors' recommended 2^4
  riemannian: { name: "riemannian", ...ADAM_DEFAULTS, delta: 1e-6 }, // Riemannian official default
  // LoRA-RITE port defaults
  "lora-rite": {
    name: "lora-rite",
    ...ADAM_DEFAULTS,
    clipUnmagnifiedGrad: 1,
    updateSkipping: 1,
    updateCapping: 0,
    applyEscape: false,
  },
  "stable-lora": { name: "stable-lora", ...ADAM_DEFAULTS, lambda: 5e-4, stopCondition: true }, // λ: the official example.py value
};

/** A fresh copy of an optimizer's defaults, with overrides (tests, bench). */
export function optimizerDefaults<N extends OptimizerName>(
  name: N,
  overrides: Partial<Omit<OptimizerConfigOf<N>, "name">> = {},
): OptimizerConfigOf<N> {
  return { ...structuredClone(OPTIMIZER_DEFAULTS[name]), ...overrides } as OptimizerConfigOf<N>;
}

/** The keys an optimizer's config has (name included). */
export function optimizerKeys(name: OptimizerName): string[] {
  return Object.keys(OPTIMIZER_DEFAULTS[name]);
}

/** Every optimizer key of any optimizer (what `--set optimizer.<key>` may name). */
export const ALL_OPTIMIZER_KEYS: readonly string[] = [...new Set(OPTIMIZER_NAMES.flatMap(optimizerKeys))];

export const LoraConfigSchema = z
  .object({
    r: z.number().int().positive(),
    alpha: z.number().positive(),
    targets: z.array(z.enum(LORA_TARGETS)).nonempty(),
    dropout: probability,
    /** rsLoRA: scaling = alpha/√r instead of alpha/r. */
    rslora: z.boolean(),
  })
  .strict();
export type LoraConfig = z.infer<typeof LoraConfigSchema>;

export const TrainConfigSchema = z
  .object({
    steps: z.number().int().min(0),
    batchSize: z.number().int().positive(),
    /**
     * Gradient accumulation: each optimizer step's batch runs in micro-batches of this many examples (unset = the
     * whole batch at once). The loss stays the token-weighted mean over the whole batch. Optional, with no default
     * in DEFAULT_RUN_CONFIG, so configs that do not set it keep their hash (and run ids).
     */
    microBatchSize: z.number().int().positive().optional(),
    /** Examples longer than this are truncated from the left of the context (the continuation is kept). */
    maxSeqLen: z.number().int().positive(),
    warmupSteps: z.number().int().min(0),
    schedule: z.enum(["constant", "linear", "cosine"]),
    /** Global gradient-norm clipping of the raw LoRA gradients (0 = off), as HF Trainer's max_grad_norm. */
    maxGradNorm: z.number().min(0),
    shuffle: z.boolean(),
    /** Training documents to use (seeded subsample; null = all). */
    limit: z.number().int().positive().nullable(),
    logEvery: z.number().int().positive(),
    /** Write a resumable checkpoint every N steps (0 = only at the end). */
    checkpointEvery: z.number().int().min(0),
  })
  .strict();

export const EvalConfigSchema = z
  .object({
    /** Tasks to evaluate after training (empty = the training task, when it has an evaluation split). */
    tasks: z.array(z.string()),
    /** Evaluation documents per task (seeded subsample; null = all). */
    limit: z.number().int().positive().nullable(),
    /** Evaluate every N steps during training (0 = only at the end). */
    everySteps: z.number().int().min(0),
    batchSize: z.number().int().positive(),
    /** Override the task's default evaluation split. */
    split: z.string().nullable(),
    /** Few-shot examples (null = the task's default: 0, or 5 for gsm8k_lm_eval). */
    numFewshot: z.number().int().min(0).nullable(),
    /** Generation budget for generate_until tasks (null = the task's default). */
    maxNewTokens: z.number().int().positive().nullable(),
  })
  .strict();

export const StabilityConfigSchema = z
  .object({
    /** Compute δ1/δ2/δ3 on the fixed probe batch every N steps (0 = off). */
    probeEvery: z.number().int().min(0),
    /** Examples in the probe batch. */
    probeBatchSize: z.number().int().positive(),
  })
  .strict();

export const RunConfigSchema = z
  .object({
    /** Local folder (config.json + *.safetensors + tokenizer.json) or a hub id such as "Qwen/Qwen2-0.5B". */
    model: z.string().min(1),
    /** Training task (lm-eval name) or null when `data` is given. */
    task: z.string().nullable(),
    /** A JSONL file of {context, continuation} lines to train on, instead of a task. */
    data: z.string().nullable(),
    /** Where task datasets live. */
    dataDir: z.string(),
    seed: z.number().int().min(0),
    backend: z.enum(BACKEND_CHOICES),
    lora: LoraConfigSchema,
    optimizer: OptimizerConfigSchema,
    train: TrainConfigSchema,
    eval: EvalConfigSchema,
    stability: StabilityConfigSchema,
  })
  .strict();
export type RunConfig = z.infer<typeof RunConfigSchema>;

export const DEFAULT_RUN_CONFIG: RunConfig = {
  model: "Qwen/Qwen2-0.5B",
  task: null,
  data: null,
  dataDir: "datasets",
  seed: 0,
  backend: "auto",
  lora: { r: 8, alpha: 16, targets: ["q_proj", "v_proj"], dropout: 0, rslora: false },
  optimizer: OPTIMIZER_DEFAULTS.adamw,
  train: {
    steps: 100,
    batchSize: 8,
    maxSeqLen: 256,
    warmupSteps: 0,
    schedule: "linear",
    maxGradNorm: 1,
    shuffle: true,
    limit: null,
    logEvery: 1,
    checkpointEvery: 50,
  },
  eval: { tasks: [], limit: null, everySteps: 0, batchSize: 16, split: null, numFewshot: null, maxNewTokens: null },
  stability: { probeEvery: 10, probeBatchSize: 4 },
};

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** Deep-merge `patch` into `base` (arrays and scalars replace). Unknown keys are kept so validation can reject them. */
export function mergeConfig<T>(base: T, patch: DeepPartial<T> | Record<string, unknown> | undefined): T {
  if (patch === undefined) return structuredClone(base);
  const out: Record<string, unknown> = structuredClone(base) as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(v) ? mergeConfig(cur, v) : structuredClone(v);
  }
  return out as T;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Error for bad configuration: the message names the key and the fix. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Keys without a default (absent from DEFAULT_RUN_CONFIG, so unset configs keep their hash) that --set accepts. */
export const OPTIONAL_KEYS: readonly string[] = ["train.microBatchSize"];

/**
 * Parse `key=value` overrides (`--set optimizer.lr=2e-4`). The value is JSON when it parses as JSON, otherwise a
 * string; a comma list is accepted where the default is an array of strings (`lora.targets=q_proj,v_proj`).
 * Unknown keys are errors here; types are checked by validateRunConfig.
 */
export function parseOverrides(pairs: readonly string[], reference: unknown = SET_REFERENCE): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--set "${pair}": expected key=value, e.g. --set optimizer.lr=2e-4`);
    const key = pair.slice(0, eq).trim();
    const raw = pair.slice(eq + 1).trim();
    const path = key.split(".");
    let ref: unknown = reference;
    for (const p of OPTIONAL_KEYS.includes(key) ? [] : path) {
      if (!isPlainObject(ref) || !(p in ref)) {
        throw new ConfigError(`--set ${key}: unknown key "${key}". Known keys: ${listKeys(reference).join(", ")}`);
      }
      ref = ref[p];
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value =
        Array.isArray(ref) && typeof ref[0] === "string"
          ? raw
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean)
          : raw;
    }
    if (Array.isArray(ref) && typeof value === "string" && typeof ref[0] === "string")
      value = value
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    let node = patch;
    for (const p of path.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]!] = value;
  }
  return patch;
}

/** What `--set` may name: every RunConfig key, and under optimizer the keys of every optimizer. */
const SET_REFERENCE = {
  ...DEFAULT_RUN_CONFIG,
  optimizer: Object.assign({}, ...OPTIMIZER_NAMES.map((n) => OPTIMIZER_DEFAULTS[n])) as Record<string, unknown>,
};

/** All dotted keys of a config object (for error messages and `list`). */
export function listKeys(obj: unknown, prefix = ""): string[] {
  if (!isPlainObject(obj)) return [prefix];
  return Object.entries(obj).flatMap(([k, v]) => listKeys(v, prefix ? `${prefix}.${k}` : k));
}

/** Validate a fully merged config: types (zod) and cross-field rules. Returns the typed config or throws ConfigError. */
export function validateRunConfig(candidate: unknown, source = "config"): RunConfig {
  const parsed = RunConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const msgs = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`invalid ${source}:\n  ${msgs.join("\n  ")}`);
  }
  const c = parsed.data;
  const errs: string[] = [];
  if (c.train.warmupSteps > c.train.steps && c.train.steps > 0)
    errs.push(`train.warmupSteps (${c.train.warmupSteps}) must be ≤ train.steps (${c.train.steps})`);
  if (c.train.microBatchSize !== undefined && c.train.microBatchSize > c.train.batchSize) {
    errs.push(
      `train.microBatchSize (${c.train.microBatchSize}) must be ≤ train.batchSize (${c.train.batchSize}); leave it unset for no accumulation`,
    );
  }
  if (c.eval.everySteps > 0 && c.train.steps > 0 && c.eval.everySteps > c.train.steps)
    errs.push(`eval.everySteps (${c.eval.everySteps}) must be ≤ train.steps (${c.train.steps})`);
  if (new Set(c.lora.targets).size !== c.lora.targets.length)
    errs.push(`lora.targets has duplicates: ${c.lora.targets.join(",")}`);
  if (errs.length) throw new ConfigError(`invalid ${source}:\n  ${errs.join("\n  ")}`);
  return c;
}

/**
 * DEFAULT_RUN_CONFIG ⊕ each patch in order, then validation. The optimizer section starts from the defaults of the
 * optimizer the patches name (AdamW when none does), and a key that optimizer does not have is an error.
 */
export function resolveRunConfig(
  ...patches: (DeepPartial<RunConfig> | Record<string, unknown> | undefined)[]
): RunConfig {
  let c: RunConfig = DEFAULT_RUN_CONFIG;
  let opt: Record<string, unknown> = {};
  for (const p of patches) {
    const { optimizer, ...rest } = (p ?? {}) as Record<string, unknown>;
    c = mergeConfig<RunConfig>(c, rest);
    if (optimizer !== undefined)
      opt = isPlainObject(optimizer) ? mergeConfig(opt, optimizer) : (optimizer as Record<string, unknown>);
  }
  return validateRunConfig({ ...c, optimizer: withOptimizerDefaults(opt) });
}

/** An optimizer patch on top of its optimizer's defaults; keys the optimizer does not have are a ConfigError. */
export function withOptimizerDefaults(patch: Record<string, unknown>): Record<string, unknown> {
  if (!isPlainObject(patch)) return patch;
  const name = (patch.name ?? "adamw") as OptimizerName;
  if (!OPTIMIZER_NAMES.includes(name)) return { ...patch, name }; // zod names the valid choices
  const keys = optimizerKeys(name);
  const foreign = Object.keys(patch).filter((k) => !keys.includes(k));
  if (foreign.length) {
    throw new ConfigError(
      `optimizer ${name} has no setting ${foreign.map((k) => `optimizer.${k}`).join(", ")} ` +
        `(its settings: ${keys.filter((k) => k !== "name").join(", ")}); remove it or choose an optimizer that has it`,
    );
  }
  return mergeConfig(structuredClone(OPTIMIZER_DEFAULTS[name]) as Record<string, unknown>, patch);
}

/** LoRA scaling s: alpha/r, or alpha/√r with rsLoRA. */
export function loraScaling(lora: Pick<LoraConfig, "alpha" | "r" | "rslora">): number {
  return lora.rslora ? lora.alpha / Math.sqrt(lora.r) : lora.alpha / lora.r;
}
