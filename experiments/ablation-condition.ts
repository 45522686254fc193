// The paper's Table 4: Stable-LoRA with vs without its stopping condition (shrink forever), merged-QA training
// (all five QA train sets pooled), evaluated on the five tasks. AdamW alongside as the reference.
import type { Experiment } from "../src/sweep.ts";
import { QA_TASK_NAMES } from "../src/tasks/types.ts";

export const ablationCondition: Experiment = {
  name: "ablation-condition",
  description: "Table 4: Stable-LoRA with / without the stop condition, merged QA, 4 models",
  base: {
    task: "merged_qa",
    lora: { r: 8, targets: ["q_proj", "v_proj"] },
    train: { steps: 2000, batchSize: 16, maxSeqLen: 256, warmupSteps: 60 },
    eval: { tasks: [...QA_TASK_NAMES] },
  },
  axes: [
    {
      key: "model",
      values: ["Qwen/Qwen2-0.5B", "meta-llama/Llama-3.2-1B", "Qwen/Qwen2-1.5B", "meta-llama/Llama-3.2-3B"],
    },
    {
      key: "optimizer",
      values: [
        { name: "adamw", lr: 2e-4 },
        { name: "stable-lora", lr: 2e-4, lambda: 1e-3, stopCondition: true },
        { name: "stable-lora", lr: 2e-4, lambda: 1e-3, stopCondition: false },
      ],
    },
    { key: "seed", values: [0, 1, 2] },
  ],
  paperRef: "table4",
};
