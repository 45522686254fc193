// The optimizer axis shared by the paper's experiments: each entry is a complete optimizer setting, so a sweep
// file reads as "these optimizers, at these learning rates". Ranges from docs/paper.md §4: η ∈ [5e-5, 8e-4],
// λ ∈ {5e-4, 1e-3, 2e-3, 5e-3}; LoRA+ ratio 16, Riemannian δ 1e-6, RITE defaults (docs/optimizers.md).
import type { DeepPartial, OptimizerConfig } from "../src/config.ts";

type Opt = DeepPartial<OptimizerConfig>;

export const PAPER_LRS = [1e-4, 2e-4, 4e-4] as const;
export const PAPER_LAMBDAS = [5e-4, 1e-3, 2e-3, 5e-3] as const;

/** One entry per optimizer at each learning rate; Stable-LoRA additionally at each λ. */
export function paperOptimizerGrid(
  lrs: readonly number[] = PAPER_LRS,
  lambdas: readonly number[] = PAPER_LAMBDAS,
): Opt[] {
  const out: Opt[] = [];
  for (const lr of lrs) {
    out.push(
      { name: "adamw", lr },
      { name: "lora-plus", lr },
      { name: "riemannian", lr },
      { name: "lora-rite", lr, eps: 1e-6 },
    );
    for (const lambda of lambdas) out.push({ name: "stable-lora", lr, lambda });
  }
  return out;
}

/** The five optimizers at one setting each (for small experiments). */
export function allOptimizers(lr: number, lambda = 5e-3): Opt[] {
  return [
    { name: "adamw", lr },
    { name: "lora-plus", lr },
    { name: "riemannian", lr },
    { name: "lora-rite", lr, eps: 1e-6 }, // the RITE port's default eps
    { name: "stable-lora", lr, lambda },
  ];
}
