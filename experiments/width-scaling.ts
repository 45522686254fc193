// Shared by the width experiments (width-study, quickstart): axes that scale the learning rate with the width n as
// η = η0·(n/n0)^(−e) (docs/paper-claims.md, C4), and a per-cell time estimate calibrated on a measured run.
// The sweep runner knows only axes over config keys, so the scaling is written as two axes (models, every learning
// rate any width needs) and a filter that keeps the (model, lr) pairs of the exponents each optimizer is run with.
// At n0 every exponent gives η0: one cell serves them all (the reporter recovers e from (n, lr): src/report/lr-
// scaling.ts).
import type { DeepPartial, RunConfig } from "../src/config.ts";
import type { Axis } from "../src/sweep.ts";
import { loraStepFlops, forwardFlops } from "../src/bench/flops.ts";
import { parseRandomModelSpec } from "../src/models/random-model.ts";

/**
 * The setting both width experiments share: the synthetic task, LoRA r = 8 on q, v with s = alpha/r = 2 at every
 * width, batches of 16 short sequences, constant learning rate (no schedule to confound the width scaling), δ probes
 * on 8 fixed examples. Each experiment adds its steps, evaluation size and probe interval.
 */
export function widthBase(train: { steps: number }, evalLimit: number, probeEvery: number): DeepPartial<RunConfig> {
  return {
    task: "synthetic",
    lora: { r: 8, alpha: 16, targets: ["q_proj", "v_proj"] },
    train: {
      ...train,
      batchSize: 16,
      maxSeqLen: 16,
      warmupSteps: 0,
      schedule: "constant",
      maxGradNorm: 1,
      checkpointEvery: 50,
    },
    eval: { limit: evalLimit, batchSize: 64 },
    stability: { probeEvery, probeBatchSize: 8 },
  };
}

/** The random-init decoder of width n used by the width experiments. */
export const widthModel = (n: number) => `random:d=${n},L=2`;

/** Width n of a "random:d=<n>,…" model. */
export function widthOf(model: string): number {
  const m = /(?:^|[:,])d=(\d+)/.exec(model);
  if (!m) throw new Error(`width experiment: model "${model}" is not random:d=<n>,…`);
  return Number(m[1]);
}

/** η0·(n/n0)^(−e), rounded to 3 significant digits (short run ids; e is recovered to ±0.001). */
export function scaledLr(eta0: number, n0: number, n: number, e: number): number {
  return Number((eta0 * (n / n0) ** -e).toPrecision(3));
}

export interface WidthLrPlan {
  widths: readonly number[];
  eta0: number;
  /** Exponents e each optimizer is run with. */
  exponents: Readonly<Record<string, readonly number[]>>;
}

/** The model and learning-rate axes of a plan, and the filter that keeps its (model, lr, optimizer) combinations. */
export function widthLrAxes(plan: WidthLrPlan): { axes: Axis[]; filter: (cfg: RunConfig) => boolean } {
  const n0 = Math.min(...plan.widths);
  const allE = [...new Set(Object.values(plan.exponents).flat())];
  const lrs = [...new Set(plan.widths.flatMap((n) => allE.map((e) => scaledLr(plan.eta0, n0, n, e))))].sort(
    (a, b) => b - a,
  );
  return {
    axes: [
      { key: "model", values: plan.widths.map(widthModel) },
      { key: "optimizer.lr", values: lrs },
    ],
    filter: (cfg) => {
      // `--set optimizer.lr=X` replaces every axis value: all lrs collapse into one cell per model (the sweep
      // drops the duplicates), a fixed learning rate, which is what the user asked for.
      if (!lrs.includes(cfg.optimizer.lr)) return true;
      // `--set model=…` with a model outside the plan's widths (another width, or a folder): the plan says nothing
      // about its learning rate, so it runs at η0 only, one cell per optimizer setting.
      const width = /(?:^|[:,])d=(\d+)/.exec(cfg.model);
      if (!width || !plan.widths.includes(Number(width[1]))) return cfg.optimizer.lr === scaledLr(plan.eta0, n0, n0, 0);
      const n = widthOf(cfg.model);
      return (plan.exponents[cfg.optimizer.name] ?? []).some((e) => scaledLr(plan.eta0, n0, n, e) === cfg.optimizer.lr);
    },
  };
}

/**
 * Seconds one cell of a width experiment takes on the 2-core CPU machine (wasm + native matmul), from its FLOP
 * count (src/bench/flops.ts) at throughputs measured there. Measured 2026-12-07 on the shared machine (load ≈ 6,
 * stable-lora, batch 16×16, probes every 10 steps): 0.054 s/step at d = 256 (1.49 GFLOP) and 0.21 s/step at d = 1024
 * (23.0 GFLOP), i.e. 0.043 s + FLOP/137 GFLOP/s; evaluation 200 docs × 4 choices at d = 1024 in 6.5 s (≈ 70 GFLOP/s
 * on the forward). Startup (model build, data) ≈ 2 s. On an idle machine cells run faster than this.
 */
export function widthCellSeconds(cfg: RunConfig): number {
  const mc = parseRandomModelSpec(cfg.model).config;
  const step = loraStepFlops(mc, cfg.lora, cfg.train.batchSize, cfg.train.maxSeqLen).step;
  const evalDocs = cfg.eval.limit ?? 400;
  const evalFlops = forwardFlops(mc, evalDocs * 4, 12);
  return 2 + cfg.train.steps * (0.043 + step / 137e9) + evalFlops / 70e9;
}
