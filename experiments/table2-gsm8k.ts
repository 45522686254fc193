// The paper's Table 2: train on MetaMathQA, evaluate GSM8K (zero-shot, MetaMath prompt) at 1000/2000/5000 steps.
// Without MetaMathQA (e.g. offline), `--set task=gsm8k` trains on GSM8K's train split converted to MetaMath's
// response style, the stand-in described in datasets/README.md.
import type { Experiment } from "../src/sweep.ts";

export const table2Gsm8k: Experiment = {
  name: "table2-gsm8k",
  description: "Table 2: MetaMathQA → GSM8K at 1000/2000/5000 steps, AdamW vs Stable-LoRA (+ baselines), 4 models",
  base: {
    task: "metamathqa",
    lora: { r: 8, targets: ["q_proj", "v_proj"] },
    train: { batchSize: 16, maxSeqLen: 512, warmupSteps: 30, schedule: "linear" },
    eval: { tasks: ["gsm8k"], maxNewTokens: 256 },
  },
  axes: [
    {
      key: "model",
      values: ["Qwen/Qwen2-0.5B", "meta-llama/Llama-3.2-1B", "Qwen/Qwen2-1.5B", "meta-llama/Llama-3.2-3B"],
    },
    { key: "train.steps", values: [1000, 2000, 5000] },
    {
      key: "optimizer",
      values: [
        { name: "adamw", lr: 2e-4 },
        { name: "lora-plus", lr: 2e-4 },
        { name: "riemannian", lr: 2e-4 },
        { name: "lora-rite", lr: 2e-4, eps: 1e-6 },
        { name: "stable-lora", lr: 2e-4, lambda: 1e-3 },
      ],
    },
    { key: "seed", values: [0, 1, 2] },
  ],
  paperRef: "table2",
};
