// The default experiment (`tsx experiments/run.ts` with no command): fully offline, no downloads, no ../shared.
// Seeded random-init Llama-architecture decoders at four widths d ∈ {64, 128, 256, 512} learn the harness's own
// synthetic task with LoRA (r = 8 on q, v) under all five optimizers. The report shows the paper's phenomenon:
// under AdamW ‖A‖ stays near its init while ‖B‖ grows from 0 (Figure 2); Stable-LoRA pulls A down until its stop
// condition ‖A‖/n < ‖B‖/m holds; δ1/δ2 over steps; and how the δ terms scale with width (the theory's γ).
// λ = 1e-2 and lr = 2e-3 are larger than the paper's so that the whole story fits in 100 steps; 2 seeds give the
// tables a spread and the plots seed bands.
import type { Experiment } from "../src/sweep.ts";
import { allOptimizers } from "./optimizers.ts";

export const QUICKSTART_WIDTHS = [64, 128, 256, 512] as const;

export const quickstart: Experiment = {
  name: "quickstart",
  description: "offline: random-init decoders at d ∈ {64..512} × 5 optimizers × 2 seeds on a synthetic task (minutes on 2 cores)",
  base: {
    task: "synthetic",
    lora: { r: 8, alpha: 16, targets: ["q_proj", "v_proj"] },
    train: { steps: 100, batchSize: 16, maxSeqLen: 16, warmupSteps: 0, schedule: "constant", maxGradNorm: 1, checkpointEvery: 50 },
    eval: { limit: 200, batchSize: 64 },
    stability: { probeEvery: 5, probeBatchSize: 8 },
  },
  axes: [
    { key: "model", values: QUICKSTART_WIDTHS.map((d) => `random:d=${d},L=2`) },
    { key: "optimizer", values: allOptimizers(2e-3, 1e-2) },
    { key: "seed", values: [0, 1] },
  ],
  // Measured on the 2-core CPU machine (wasm + native matmul, see README): 2–7 s a cell, growing with d.
  estimateSeconds: (cfg) => 2 + (Number(/d=(\d+)/.exec(cfg.model)?.[1] ?? 128) / 512) * 5,
};
