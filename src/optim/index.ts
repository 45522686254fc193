// The optimizer factory: OptimizerConfig.name → one of the five LoRA optimizers (one file each). Every optimizer
// gets the explicit (A, B) pairs; see types.ts for the contract and docs/optimizers.md for the specs.
import type { OptimizerConfig } from "../config.ts";
import { createAdamW } from "./adamw.ts";
import { createLoraPlus } from "./lora-plus.ts";
import { createLoraRite } from "./lora-rite.ts";
import { createRiemannian } from "./riemannian.ts";
import { createStableLora } from "./stable-lora.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraOptimizer } from "./types.ts";

export function createOptimizer(cfg: OptimizerConfig, pairs: readonly LoraPair[]): LoraOptimizer {
  if (pairs.length === 0) throw new Error(`optimizer "${cfg.name}": no LoRA pairs to optimize (check lora.targets)`);
  switch (cfg.name) {
    case "adamw":
      return createAdamW(cfg, pairs);
    case "lora-plus":
      return createLoraPlus(cfg, pairs);
    case "riemannian":
      return createRiemannian(cfg, pairs);
    case "lora-rite":
      return createLoraRite(cfg, pairs);
    case "stable-lora":
      return createStableLora(cfg, pairs);
    default: {
      const never: never = cfg.name;
      throw new Error(`optimizer: unknown name "${String(never)}"`);
    }
  }
}

export { lrAt } from "./schedule.ts";
export type { LoraOptimizer, StepStats, OptimizerState } from "./types.ts";
