// Plot data from runs: per-step curves thinned into at most `maxPoints` step buckets (each point is the mean
// over its bucket, so thinning also smooths), then summarised across seeds as mean with a min–max band. Also the
// stop-step grid (layer × module type), ΔW spectra and accuracy points (the width study: width-scaling.ts).
import type { RunAxes } from "./axes.ts";
import { compareModuleTypes, parseModule } from "./axes.ts";
import { displayScale } from "./aggregate.ts";
import { geometricMean, mean, median } from "./stats.ts";

export const MAX_POINTS = 300;

export interface BandPoint {
  series: string;
  optimizer: string;
  step: number;
  mean: number;
  lo: number;
  hi: number;
  n: number;
  [facet: string]: string | number;
}

type Curve = { step: number; value: number }[];

/** Bucket one curve by step (bucket width k): the mean of the values in each bucket, at the bucket's last step. */
export function thin(curve: Curve, k: number, reduce: (xs: number[]) => number = mean): Curve {
  const buckets = new Map<number, number[]>();
  for (const p of curve) {
    if (!Number.isFinite(p.value)) continue;
    const b = Math.ceil(p.step / k);
    if (!buckets.has(b)) buckets.set(b, []);
    buckets.get(b)!.push(p.value);
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([b, xs]) => ({ step: b * k, value: reduce(xs) }));
}

/** Mean and min–max band across runs of thinned curves, aligned by bucket. */
export function band(
  curves: Curve[],
  maxPoints = MAX_POINTS,
  reduce: (xs: number[]) => number = mean,
): { step: number; mean: number; lo: number; hi: number; n: number }[] {
  const maxStep = Math.max(0, ...curves.flatMap((c) => c.map((p) => p.step)));
  const k = Math.max(1, Math.ceil(maxStep / maxPoints));
  const byStep = new Map<number, number[]>();
  for (const c of curves) {
    for (const p of thin(c, k, reduce)) {
      if (!byStep.has(p.step)) byStep.set(p.step, []);
      byStep.get(p.step)!.push(p.value);
    }
  }
  return [...byStep.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([step, xs]) => ({ step, mean: reduce(xs), lo: Math.min(...xs), hi: Math.max(...xs), n: xs.length }));
}

/** Training loss per step, per series. */
export function lossSeries(runs: readonly RunAxes[]): BandPoint[] {
  return bySeries(runs).flatMap(([series, rs]) =>
    band(rs.map((r) => r.run.metrics().map((m) => ({ step: m.step, value: m.loss })))).map((p) => ({
      series,
      optimizer: rs[0]!.optimizer,
      ...p,
    })),
  );
}

/** ‖A‖_F and ‖B‖_F per step: per run the mean over modules of each type, then mean/min–max across runs. */
export function normSeries(runs: readonly RunAxes[]): BandPoint[] {
  const out: BandPoint[] = [];
  for (const [series, rs] of bySeries(runs)) {
    const types = moduleTypes(rs);
    for (const type of types) {
      for (const factor of ["A", "B"] as const) {
        const curves = rs.map((r) =>
          r.run.metrics().map((m) => {
            const vals = Object.entries(m.modules ?? {})
              .filter(([name]) => parseModule(name).type === type)
              .map(([, s]) => (factor === "A" ? s.normA : s.normB));
            return { step: m.step, value: vals.length ? mean(vals) : NaN };
          }),
        );
        for (const p of band(curves))
          out.push({
            series,
            optimizer: rs[0]!.optimizer,
            module: type,
            factor: factor === "A" ? "‖A‖_F" : "‖B‖_F",
            ...p,
          });
      }
    }
  }
  return out;
}

/** rms(δ1)/rms(δ2) on probe steps: per run the geometric mean over modules of each type; geometric mean across runs. */
export function deltaRatioSeries(runs: readonly RunAxes[]): BandPoint[] {
  const out: BandPoint[] = [];
  for (const [series, rs] of bySeries(runs)) {
    for (const type of moduleTypes(rs)) {
      const curves = rs.map((r) =>
        r.run
          .metrics()
          .filter((m) => m.delta)
          .map((m) => {
            const ratios = Object.entries(m.delta!)
              .filter(([name, d]) => parseModule(name).type === type && d.d1 > 0 && d.d2 > 0)
              .map(([, d]) => d.d1 / d.d2);
            return { step: m.step, value: geometricMean(ratios) };
          }),
      );
      for (const p of band(curves, MAX_POINTS, geometricMean))
        out.push({ series, optimizer: rs[0]!.optimizer, module: type, ...p });
    }
  }
  return out.filter((p) => p.mean > 0 && p.lo > 0);
}

export interface StopCell {
  series: string;
  layer: number;
  module: string;
  /** Median over runs that stopped; null when no run stopped this module. */
  stopStep: number | null;
  stopped: number;
  runs: number;
}

/** Stable-LoRA stop step per layer × module type (summary.stability.stopSteps, else the last metrics record). */
export function stopGrid(runs: readonly RunAxes[]): StopCell[] {
  const out: StopCell[] = [];
  for (const [series, rs] of bySeries(runs.filter((r) => r.optimizer === "stable-lora"))) {
    const cells = new Map<string, { layer: number; module: string; steps: number[]; runs: number }>();
    for (const r of rs) {
      let stops = r.run.summary?.stability?.stopSteps;
      if (!stops || !Object.keys(stops).length) {
        const m = r.run.metrics();
        const last = m[m.length - 1];
        stops = last
          ? Object.fromEntries(
              Object.entries(last.modules ?? {})
                .filter(([, s]) => s.stopStep !== undefined)
                .map(([n, s]) => [n, s.stopStep ?? null]),
            )
          : {};
      }
      for (const [name, step] of Object.entries(stops)) {
        const { layer, type } = parseModule(name);
        const key = `${layer ?? -1}|${type}`;
        if (!cells.has(key)) cells.set(key, { layer: layer ?? -1, module: type, steps: [], runs: 0 });
        const c = cells.get(key)!;
        c.runs += 1;
        if (typeof step === "number") c.steps.push(step);
      }
    }
    for (const c of cells.values())
      out.push({
        series,
        layer: c.layer,
        module: c.module,
        stopStep: c.steps.length ? median(c.steps) : null,
        stopped: c.steps.length,
        runs: c.runs,
      });
  }
  return out.sort((a, b) => a.layer - b.layer || compareModuleTypes(a.module, b.module));
}

/** ΔW singular values σ_i (i = 1..r) per module type: mean over modules per run, then mean and min–max across runs. */
export function spectrumSeries(runs: readonly RunAxes[]): BandPoint[] {
  const out: BandPoint[] = [];
  for (const [series, rs] of bySeries(runs.filter((r) => r.run.summary?.stability?.deltaW))) {
    const perRun = rs.map((r) => Object.entries(r.run.summary!.stability!.deltaW!));
    const types = [...new Set(perRun.flatMap((e) => e.map(([n]) => parseModule(n).type)))].sort(compareModuleTypes);
    for (const type of types) {
      const runMeans = perRun
        .map((entries) => {
          const svs = entries.filter(([n]) => parseModule(n).type === type).map(([, s]) => s.singularValues);
          const r = Math.max(0, ...svs.map((s) => s.length));
          return Array.from({ length: r }, (_, i) =>
            mean(svs.map((s) => s[i]).filter((x): x is number => x !== undefined)),
          );
        })
        .filter((m) => m.length);
      const r = Math.max(0, ...runMeans.map((m) => m.length));
      for (let i = 0; i < r; i++) {
        const xs = runMeans.map((m) => m[i]).filter((x): x is number => x !== undefined && x > 0);
        if (xs.length)
          out.push({
            series,
            optimizer: rs[0]!.optimizer,
            module: type,
            step: i + 1,
            mean: mean(xs),
            lo: Math.min(...xs),
            hi: Math.max(...xs),
            n: xs.length,
          });
      }
    }
  }
  return out;
}

export interface AccuracyPoint {
  series: string;
  optimizer: string;
  task: string;
  seed: number;
  step: number;
  value: number;
}

/** Final accuracy per successful run and evaluation task (display units). */
export function accuracyPoints(runs: readonly RunAxes[], metrics: Record<string, string>): AccuracyPoint[] {
  const out: AccuracyPoint[] = [];
  for (const r of runs) {
    if (r.run.status !== "success") continue;
    for (const task of r.evalTasks) {
      const metric = metrics[task];
      if (!metric) continue;
      const finals = r.run.evals.filter((e) => e.task === task && e.final && Number.isFinite(e.metrics[metric]));
      const v = finals.length ? finals[finals.length - 1]!.metrics[metric]! : r.run.summary?.final?.[task]?.[metric];
      if (typeof v === "number" && Number.isFinite(v))
        out.push({
          series: r.rowLabel,
          optimizer: r.optimizer,
          task,
          seed: r.seed,
          step: r.config.train.steps,
          value: v * displayScale(metric),
        });
    }
  }
  return out;
}

/**
 * Accuracy against training steps. When train.steps varies across runs, each run's final evaluation is one point at
 * its step count (separate runs, as the paper's 1000/2000/5000); otherwise every eval.jsonl record of a run is used.
 */
export function accuracyVsSteps(
  runs: readonly RunAxes[],
  metrics: Record<string, string>,
  stepsVary: boolean,
): AccuracyPoint[] {
  if (stepsVary) return accuracyPoints(runs, metrics);
  const out: AccuracyPoint[] = [];
  for (const r of runs) {
    if (r.run.status === "invalid") continue;
    for (const e of r.run.evals) {
      const metric = metrics[e.task];
      const v = metric ? e.metrics[metric] : undefined;
      if (typeof v === "number" && Number.isFinite(v))
        out.push({
          series: r.rowLabel,
          optimizer: r.optimizer,
          task: e.task,
          seed: r.seed,
          step: e.step,
          value: v * displayScale(metric!),
        });
    }
  }
  return out;
}

// The width study (points, γ̂ fits with CIs) lives in width-scaling.ts.
export { widthStudy } from "./width-scaling.ts";
export type { WidthFit, WidthPoint } from "./width-scaling.ts";

function bySeries(runs: readonly RunAxes[]): [string, RunAxes[]][] {
  const m = new Map<string, RunAxes[]>();
  for (const r of runs) {
    if (r.run.status === "invalid") continue;
    if (!m.has(r.rowLabel)) m.set(r.rowLabel, []);
    m.get(r.rowLabel)!.push(r);
  }
  return [...m.entries()];
}

function moduleTypes(rs: readonly RunAxes[]): string[] {
  const types = new Set<string>();
  for (const r of rs) {
    const m = r.run.metrics();
    for (const name of Object.keys(m[m.length - 1]?.modules ?? {})) types.add(parseModule(name).type);
  }
  return [...types].sort(compareModuleTypes);
}
