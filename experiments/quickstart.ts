// The default experiment (`tsx experiments/run.ts` with no command): fully offline, no downloads, no ../shared.
// Seeded random-init Llama-architecture decoders at four widths d ∈ {64, 128, 256, 512} learn the harness's own
// synthetic task (src/tasks/synthetic.ts) with LoRA (r = 8 on q, v) from PEFT's non-zero A0: all five optimizers at
// the theory's learning-rate scaling η = 5e-3·(d/64)^(−1/2), and AdamW and Stable-LoRA also at η ∝ d^(−1) (a small
// version of the `width-study` experiment). 2 seeds give the tables a spread and the plots seed bands.
// The report, not this file, says what the runs show: its "Paper's claims vs this data" section computes a verdict
// for each claim (docs/paper-claims.md) from the logged ‖A‖, ‖B‖, stop steps, δ terms and accuracies.
// λ = 3e-2 and η0 = 5e-3 are larger than the paper's so that Stable-LoRA's shrink and stop fit in 100 steps (the
// shrink alone takes A to 10% of A0 in ln 10/λ ≈ 77 steps) and AdamW learns the task at every width.
import type { Experiment } from "../src/sweep.ts";
import { allOptimizers } from "./optimizers.ts";
import { widthBase, widthCellSeconds, widthLrAxes } from "./width-scaling.ts";

export const QUICKSTART_WIDTHS = [64, 128, 256, 512] as const;

const scaling = widthLrAxes({
  widths: QUICKSTART_WIDTHS,
  eta0: 5e-3,
  exponents: { adamw: [0.5, 1], "lora-plus": [0.5], riemannian: [0.5], "lora-rite": [0.5], "stable-lora": [0.5, 1] },
});

export const quickstart: Experiment = {
  name: "quickstart",
  description:
    "offline: random-init decoders at d ∈ {64..512} × 5 optimizers (η ∝ d^−½; AdamW, Stable-LoRA also d^−1) × 2 seeds on a synthetic task",
  base: widthBase({ steps: 100 }, 200, 10),
  axes: [
    scaling.axes[0]!,
    // Each optimizer's own settings (λ = 3e-2 for Stable-LoRA, eps = 1e-6 for LoRA-RITE); its lr comes from the next
    // axis.
    { key: "optimizer", values: allOptimizers(5e-3, 3e-2) },
    scaling.axes[1]!,
    { key: "seed", values: [0, 1] },
  ],
  filter: scaling.filter,
  estimateSeconds: widthCellSeconds,
};
