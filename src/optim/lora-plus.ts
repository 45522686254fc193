// LoRA+: "LoRA+: Efficient Low Rank Adaptation of Large Models", Hayou, Ghosh, Yu (ICML 2024), arXiv 2402.12354.
// Reference: nikhil-ghosh-berkeley/loraplus `lora_plus.py` (create_loraplus_optimizer) and PEFT
// `optimizers/loraplus.py`; spec in docs/optimizers.md §3. Not a new update rule: torch AdamW with
// lr_B = lrRatio·lr_A for every lora_B and the same β, ε, weight decay for A and B; the schedule scales both, so the
// ratio is kept. Deliberate difference: only LoRA pairs are optimized (no 1-D / embedding groups exist here).
import type { OptimizerConfig } from "../config.ts";
import { createAdamW } from "./adamw.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraOptimizer } from "./types.ts";

export function createLoraPlus(cfg: OptimizerConfig, pairs: readonly LoraPair[]): LoraOptimizer {
  return createAdamW(cfg, pairs, cfg.lrRatio, "lora-plus");
}
