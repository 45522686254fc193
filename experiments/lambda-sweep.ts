// Shrink ratio λ sweep (the paper searches λ ∈ {5e-4, 1e-3, 2e-3, 5e-3}): how λ moves the stop step and accuracy.
// λ = 0 is plain AdamW (an invariant the optimizer tests check), kept as the reference point.
import type { Experiment } from "../src/sweep.ts";

export const lambdaSweep: Experiment = {
  name: "lambda-sweep",
  description: "Stable-LoRA λ ∈ {0, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2} on Qwen2-0.5B, ARC-Easy and OBQA, 3 seeds",
  base: {
    model: "Qwen/Qwen2-0.5B",
    optimizer: { name: "stable-lora", lr: 2e-4 },
    lora: { r: 8, targets: ["q_proj", "v_proj"] },
    train: { steps: 1000, batchSize: 16, maxSeqLen: 256, warmupSteps: 30 },
  },
  axes: [
    { key: "task", values: ["arc_easy", "openbookqa"] },
    { key: "optimizer.lambda", values: [0, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2] },
    { key: "seed", values: [0, 1, 2] },
  ],
};
