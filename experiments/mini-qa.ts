// CPU-scale version of Table 1: a small local model on subsets of the five real QA tasks, all five optimizers,
// 3 seeds — minutes, not hours. Defaults to the tiny real checkpoint in ../shared (stories260K); any local
// Llama/Qwen2 folder works: --set model=/path/to/model --set dataDir=/path/to/datasets (a folder named like one of
// the paper's models, e.g. .../Qwen2-0.5B, gets the paper's Table 1 average beside ours). The report marks cells
// whose accuracy cannot be told from chance; README "A meaningful CPU-scale table with a real 0.5B checkpoint" has
// the settings, time and memory for Qwen2-0.5B on 2 cores.
import type { Experiment } from "../src/sweep.ts";
import { allOptimizers } from "./optimizers.ts";
import { QA_TASK_NAMES } from "../src/tasks/types.ts";

export const miniQa: Experiment = {
  name: "mini-qa",
  description: "CPU-scale Table 1: a small local model, subsets of the 5 QA tasks, 5 optimizers × 3 seeds",
  base: {
    model: "../shared/models/stories260K",
    dataDir: "../shared/datasets",
    lora: { r: 8, alpha: 16, targets: ["q_proj", "v_proj"] },
    train: { steps: 60, batchSize: 8, maxSeqLen: 128, warmupSteps: 5, limit: 2000, checkpointEvery: 20 },
    eval: { limit: 200, batchSize: 32 },
    stability: { probeEvery: 10 },
  },
  axes: [
    { key: "task", values: [...QA_TASK_NAMES] },
    { key: "optimizer", values: allOptimizers(2e-3, 5e-3) },
    { key: "seed", values: [0, 1, 2] },
  ],
};
