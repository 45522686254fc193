// The width study that can decide the paper's width claims (docs/paper-claims.md, C4): seeded random-init decoders
// of width n ∈ {64, 128, 256, 512, 1024} (2 layers) learn the synthetic task with LoRA (r = 8 on q, v; s = alpha/r = 2
// fixed for every width) from PEFT's non-zero A0, under AdamW and Stable-LoRA, with the learning rate scaled as
// η = η0·(n/64)^(−e), e ∈ {0, 0.5, 1} (e = 0.5 is the theory's γ[s] + 2γ[η] + 1 = 0; e = 1 is the smallest learning
// rate, at the edge of the paper's condition γ[A0·Z] ≤ γ[η] + 1), 3 seeds. The report fits γ̂ of δ1, δ2, δ3 and ΔY
// with bootstrap CIs over seeds and computes the verdicts; this file asserts nothing about them.
// λ = 2e-2 and 150 steps: the shrink alone takes A to 10% of A0 in ln 10/λ ≈ 115 steps, so the stop condition has
// time to fire at every width and the second half of the run (where the δ terms are measured) is after the stop.
// Cost: widthCellSeconds (calibrated on a measured run) puts it at about 22 minutes on the 2 CPU cores; `sweep
// width-study --dry-run` prints the estimate, and experiments/width-study.test.ts holds it under 30 minutes.
import type { Experiment } from "../src/sweep.ts";
import { allOptimizers } from "./optimizers.ts";
import { widthBase, widthCellSeconds, widthLrAxes } from "./width-scaling.ts";

export const WIDTH_STUDY_WIDTHS = [64, 128, 256, 512, 1024] as const;
export const WIDTH_STUDY_BUDGET_SECONDS = 30 * 60;

const scaling = widthLrAxes({
  widths: WIDTH_STUDY_WIDTHS,
  eta0: 2e-3,
  exponents: { adamw: [0, 0.5, 1], "stable-lora": [0, 0.5, 1] },
});

export const widthStudy: Experiment = {
  name: "width-study",
  description:
    "width n ∈ {64..1024} × η ∝ n^−e (e ∈ {0, ½, 1}) × AdamW / Stable-LoRA × 3 seeds: γ̂ of δ1, δ2, δ3, ΔY (est. 22 min on 2 cores)",
  base: widthBase({ steps: 150 }, 100, 10),
  axes: [
    scaling.axes[0]!,
    // AdamW and Stable-LoRA (λ = 2e-2) with their own settings; the learning rate comes from the next axis.
    {
      key: "optimizer",
      values: allOptimizers(2e-3, 2e-2).filter((o) => o.name === "adamw" || o.name === "stable-lora"),
    },
    scaling.axes[1]!,
    { key: "seed", values: [0, 1, 2] },
  ],
  filter: scaling.filter,
  estimateSeconds: widthCellSeconds,
};
