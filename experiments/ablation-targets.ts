// The paper's target-module ablation: LoRA on q,v / q,k,v,o / all seven projections, merged QA, AdamW vs Stable-LoRA.
import type { Experiment } from "../src/sweep.ts";
import { QA_TASK_NAMES } from "../src/tasks/types.ts";

export const ablationTargets: Experiment = {
  name: "ablation-targets",
  description: "Target modules qv / qkvo / qkvogud, AdamW vs Stable-LoRA, merged QA",
  base: {
    task: "merged_qa",
    lora: { r: 8 },
    train: { steps: 2000, batchSize: 16, maxSeqLen: 256, warmupSteps: 60 },
    eval: { tasks: [...QA_TASK_NAMES] },
  },
  axes: [
    {
      key: "model",
      values: ["Qwen/Qwen2-0.5B", "meta-llama/Llama-3.2-1B", "Qwen/Qwen2-1.5B", "meta-llama/Llama-3.2-3B"],
    },
    {
      key: "lora.targets",
      values: [
        ["q_proj", "v_proj"],
        ["q_proj", "k_proj", "v_proj", "o_proj"],
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      ],
    },
    {
      key: "optimizer",
      values: [
        { name: "adamw", lr: 2e-4 },
        { name: "stable-lora", lr: 2e-4, lambda: 1e-3 },
      ],
    },
    { key: "seed", values: [0, 1, 2] },
  ],
  paperRef: "targets",
};
