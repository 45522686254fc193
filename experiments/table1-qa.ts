// The paper's Table 1: five optimizers × four models × five commonsense QA tasks × 3 seeds, r = 8 on q,v.
// Per-task adapters (docs/paper.md §4). Batch size, steps and schedule are not in the paper: we use 1000 steps of 16
// examples with 3% warmup and a linear decay, the HF Trainer defaults otherwise. The scaling s = alpha/r is an axis.
import type { Experiment } from "../src/sweep.ts";
import { paperOptimizerGrid } from "./optimizers.ts";
import { QA_TASK_NAMES } from "../src/tasks/types.ts";

export const table1Qa: Experiment = {
  name: "table1-qa",
  description: "Table 1: 5 optimizers × {Qwen2-0.5B, Llama-3.2-1B, Qwen2-1.5B, Llama-3.2-3B} × 5 QA tasks × 3 seeds",
  base: {
    lora: { r: 8, targets: ["q_proj", "v_proj"] },
    train: { steps: 1000, batchSize: 16, maxSeqLen: 256, warmupSteps: 30, schedule: "linear" },
    eval: { batchSize: 32 },
  },
  axes: [
    {
      key: "model",
      values: ["Qwen/Qwen2-0.5B", "meta-llama/Llama-3.2-1B", "Qwen/Qwen2-1.5B", "meta-llama/Llama-3.2-3B"],
    },
    { key: "task", values: [...QA_TASK_NAMES] },
    { key: "lora.alpha", values: [16, 64] }, // s = 2 and 8
    { key: "optimizer", values: paperOptimizerGrid() },
    { key: "seed", values: [0, 1, 2] },
  ],
  paperRef: "table1",
};
