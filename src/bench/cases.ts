// The named cases of `run.ts bench`: which model, which batch, what is measured. Each case runs in its own child
// process (src/bench/run-case.ts), so peak RSS and the 4 GiB wasm heap are per case. Shapes (docs/engine.md):
// llama-4x256 is the probe model; the quickstart widths are char-level models (vocab 128) with 2 layers at
// d ∈ {64, 128, 256, 512}, head_dim 32, GQA 2:1, ffn 8/3·d rounded up to 16; Qwen2-0.5B uses its published shape.
import * as path from "node:path";
import { LORA_TARGETS, type LoraTarget } from "../config.ts";
import type { ModelConfig } from "../models/model-config.ts";
import { MODEL_PRESETS, customConfig } from "../models/presets.ts";

/** What a case measures. */
export type CaseKind =
  | "train" // LoRA training step (AdamW) + forward; PyTorch peer on the same shapes
  | "eval-score" // loglikelihood choices/s
  | "eval-generate" // greedy tokens/s with KV cache vs recomputing the prefix
  | "optimizers" // step time per optimizer vs AdamW, and optimizer step alone
  | "signals"; // step time with per-step stability signals on vs off

/** Where the model comes from: a random-init config, or a local HF folder (skipped when absent). */
export type ModelSource = { kind: "random"; config: ModelConfig } | { kind: "folder"; dir: string };

export interface BenchCase {
  readonly name: string;
  readonly kind: CaseKind;
  readonly model: ModelSource;
  /** Batch sizes to try in order: a case that runs out of memory is retried in a fresh process with the next one. */
  readonly batches: readonly number[];
  readonly seqLen: number;
  readonly r: number;
  readonly alpha: number;
  readonly targets: readonly LoraTarget[];
  /** Timed steps (median); warm-up steps come first. */
  readonly steps: number;
  readonly warmup: number;
  /** Whether the PyTorch peer runs the same shapes. */
  readonly peer: boolean;
  /** Only with --only (tiny plumbing cases). */
  readonly hidden?: boolean;
  readonly note?: string;
  /** eval-generate: prompt length in tokens (default 16). */
  readonly promptTokens?: number;
}

const ffn = (d: number) => Math.ceil(((8 / 3) * d) / 16) * 16;

export const LLAMA_4X256 = customConfig({
  vocabSize: 4096,
  hiddenSize: 256,
  intermediateSize: 688,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 4,
});

function quickstart(d: number): ModelConfig {
  const heads = Math.max(2, d / 32);
  return customConfig({
    vocabSize: 128,
    hiddenSize: d,
    intermediateSize: ffn(d),
    numLayers: 2,
    numHeads: heads,
    numKvHeads: heads / 2,
  });
}

const TINY = customConfig({
  vocabSize: 64,
  hiddenSize: 32,
  intermediateSize: 64,
  numLayers: 1,
  numHeads: 2,
  numKvHeads: 1,
});

const base = { seqLen: 128, r: 8, alpha: 16, targets: LORA_TARGETS, steps: 5, warmup: 2, peer: true } as const;
/** Steps of tens of milliseconds: the median of 20 after 5 warm-ups, on both sides (a shared VM's noise swamps 5). */
const shortSteps = { steps: 20, warmup: 5 } as const;

/**
 * The suite, in run order. `sharedDir` is ../shared (stories260K lives in its models/ folder).
 * long: one declarative list of the cases, a few lines each; splitting it would only scatter the table.
 */
export function benchCases(sharedDir: string): BenchCase[] {
  const rand = (config: ModelConfig): ModelSource => ({ kind: "random", config });
  const qwen = MODEL_PRESETS["Qwen/Qwen2-0.5B"]!.config;
  return [
    {
      ...base,
      name: "tiny",
      kind: "train",
      model: rand(TINY),
      batches: [2],
      seqLen: 16,
      steps: 1,
      warmup: 1,
      hidden: true,
      note: "plumbing smoke test",
    },
    {
      ...base,
      name: "tiny-eval",
      kind: "eval-generate",
      model: rand(TINY),
      batches: [1],
      seqLen: 8,
      steps: 1,
      warmup: 0,
      peer: false,
      hidden: true,
    },
    { ...base, name: "llama-4x256", kind: "train", model: rand(LLAMA_4X256), batches: [8] },
    ...[64, 128, 256, 512].map((d): BenchCase => ({
      ...base,
      ...shortSteps,
      name: `quickstart-d${d}`,
      kind: "train",
      model: rand(quickstart(d)),
      batches: [8],
    })),
    {
      ...base,
      ...shortSteps,
      name: "stories260K",
      kind: "train",
      model: { kind: "folder", dir: path.join(sharedDir, "models", "stories260K") },
      batches: [8],
    },
    {
      ...base,
      name: "qwen2-0.5b-shape",
      kind: "train",
      model: rand(qwen),
      batches: [2, 1],
      steps: 1,
      warmup: 1,
      note: "Qwen2-0.5B shape, random weights; fp32 weights ≈ 2.0 GB against the 4 GiB wasm heap",
    },
    // GPU-sized steps (batch 8×256, the paper-scale shape), only with --only: tools/gpu/check.sh runs them on webgpu.
    {
      ...base,
      name: "qwen2-0.5b-gpu",
      kind: "train",
      model: rand(qwen),
      batches: [8],
      seqLen: 256,
      steps: 3,
      warmup: 1,
      hidden: true,
      note: "Qwen2-0.5B shape, random weights, batch 8×256 (GPU)",
    },
    {
      ...base,
      name: "llama3.2-1b-gpu",
      kind: "train",
      model: rand(MODEL_PRESETS["meta-llama/Llama-3.2-1B"]!.config),
      batches: [8],
      seqLen: 256,
      steps: 3,
      warmup: 1,
      hidden: true,
      note: "Llama-3.2-1B shape, random weights, batch 8×256 (GPU)",
    },
    {
      ...base,
      name: "eval-score",
      kind: "eval-score",
      model: rand(LLAMA_4X256),
      batches: [8],
      seqLen: 64,
      steps: 3,
      warmup: 1,
      peer: false,
      note: "lm-eval-style choices of 64 tokens, 8 per forward",
    },
    {
      ...base,
      name: "eval-generate",
      kind: "eval-generate",
      model: rand(LLAMA_4X256),
      batches: [1],
      seqLen: 128,
      steps: 1,
      warmup: 0,
      peer: false,
      note: "128 new tokens after a 16-token prompt",
    },
    {
      ...base,
      name: "eval-generate-gsm8k",
      kind: "eval-generate",
      model: rand(LLAMA_4X256),
      batches: [1],
      seqLen: 128,
      steps: 1,
      warmup: 0,
      peer: false,
      promptTokens: 160,
      note: "128 new tokens after a 160-token prompt (a GSM8K question in the MetaMath zero-shot prompt is ~120–200 tokens)",
    },
    {
      ...base,
      name: "optimizers",
      kind: "optimizers",
      model: rand(LLAMA_4X256),
      batches: [8],
      steps: 5,
      warmup: 1,
      peer: false,
      note: "llama-4x256, LoRA r=8 on all seven projections",
    },
    {
      ...base,
      name: "signals",
      kind: "signals",
      model: rand(LLAMA_4X256),
      batches: [8],
      steps: 6,
      warmup: 1,
      peer: false,
      note: "llama-4x256, LoRA r=8 on all seven projections",
    },
  ];
}
