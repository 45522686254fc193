// The paper's overhead table: wall-clock time of the same training run under each optimizer (Qwen-2 0.5B on
// HellaSwag in the paper: AdamW 217.4 s; LoRA+ +0.0%, Riemann +8.3%, LoRA-RITE +46.0%, Stable-LoRA +0.6%).
// Stability logging is on as in every run; `bench` measures the optimizer alone.
import type { Experiment } from "../src/sweep.ts";
import { allOptimizers } from "./optimizers.ts";

export const overhead: Experiment = {
  name: "overhead",
  description: "Overhead table: time per step and peak memory of each optimizer vs AdamW (Qwen2-0.5B, HellaSwag)",
  base: {
    model: "Qwen/Qwen2-0.5B",
    task: "hellaswag",
    lora: { r: 8, targets: ["q_proj", "v_proj"] },
    train: { steps: 200, batchSize: 8, maxSeqLen: 128, checkpointEvery: 0 },
    eval: { limit: 200 },
  },
  axes: [
    { key: "optimizer", values: allOptimizers(2e-4, 5e-4) },
    { key: "seed", values: [0] },
  ],
  paperRef: "overhead",
};
