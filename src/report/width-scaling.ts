// The width study: how the feature-update terms scale with the width n. Per run, rms of δ1, δ2, δ3 and ΔY
// (geometric mean over modules and over the probe steps of the second half of training, when Stable-LoRA has
// normally stopped shrinking: docs/paper-claims.md, C4); per series (optimizer setting × learning-rate exponent e,
// lr-scaling.ts) the least-squares slope γ̂ of log rms on log n, one point per width (the mean over seeds of
// log rms). CIs: a bootstrap over seeds (resampled with replacement within each width, the same draws for every term,
// so differences such as γ̂δ1 − γ̂δ2 get a paired interval) when every width has ≥ 2 seeds; otherwise the slope's
// t interval from the fit's residuals (≥ 3 widths); otherwise none.
import type { RunAxes } from "./axes.ts";
import { lrScalingLabel, primaryExponent } from "./lr-scaling.ts";
import { THRESHOLDS } from "./claims-thresholds.ts";
import { geometricMean, linearFit, mean, tQuantile } from "./stats.ts";
import { Rng } from "../util/rng.ts";

export const WIDTH_TERMS = ["δ1", "δ2", "δ3", "ΔY"] as const;
export type WidthTerm = (typeof WIDTH_TERMS)[number];
const KEY: Record<WidthTerm, "d1" | "d2" | "d3" | "dY"> = { δ1: "d1", δ2: "d2", δ3: "d3", ΔY: "dY" };

export interface WidthPoint {
  series: string;
  optimizer: string;
  /** Learning-rate exponent e of the series (0 when lr is fixed). */
  e: number;
  term: string;
  width: number;
  seed: number;
  value: number;
}

export interface WidthFit {
  series: string;
  optimizer: string;
  e: number;
  term: string;
  /** Slope of log rms(term) against log n: the estimated γ. */
  gamma: number;
  intercept: number;
  /** Runs (widths × seeds) in the fit. */
  points: number;
  widths: number;
  /** CI of γ at THRESHOLDS.confidence; NaN when the data give none. */
  lo: number;
  hi: number;
  ciMethod: "bootstrap over seeds" | "t (fit residuals)" | "none";
  /** Bootstrap slopes (same resamples for every term of the series), for paired differences; empty otherwise. */
  boot: number[];
}

export interface WidthStudy {
  points: WidthPoint[];
  fits: WidthFit[];
}

/** The series a run belongs to: its row label with the lr scaling of exponent e (a run at n0 is in every e). */
function seriesOf(r: RunAxes): { label: string; e: number }[] {
  const exps = r.lrExponents ?? [0];
  const shown = primaryExponent(exps);
  const inLabel = r.rowLabel.includes(lrScalingLabel(shown));
  return exps.map((e) => ({
    label: inLabel ? r.rowLabel.replace(lrScalingLabel(shown), lrScalingLabel(e)) : r.rowLabel,
    e,
  }));
}

/** rms of each term for one run: geometric mean over modules and the probe steps after half of train.steps. */
export function runWidthValues(r: RunAxes): Partial<Record<WidthTerm, number>> {
  const half = r.config.train.steps / 2;
  const probes = r.run.metrics().filter((m) => m.delta && m.step > half);
  const out: Partial<Record<WidthTerm, number>> = {};
  if (!probes.length) return out;
  for (const term of WIDTH_TERMS) {
    const v = geometricMean(probes.flatMap((m) => Object.values(m.delta!).map((d) => d[KEY[term]])));
    if (v > 0) out[term] = v;
  }
  return out;
}

export function widthStudy(runs: readonly RunAxes[]): WidthStudy {
  const points: WidthPoint[] = [];
  for (const r of runs) {
    const n = r.run.hiddenSize;
    if (!n || r.run.status === "invalid") continue;
    const vals = runWidthValues(r);
    for (const s of seriesOf(r)) {
      for (const term of WIDTH_TERMS) {
        const v = vals[term];
        if (v !== undefined)
          points.push({ series: s.label, optimizer: r.optimizer, e: s.e, term, width: n, seed: r.seed, value: v });
      }
    }
  }
  return { points, fits: fitWidthPoints(points) };
}

/** γ̂ fits (with CIs) of every series and term in `points`. */
export function fitWidthPoints(points: readonly WidthPoint[]): WidthFit[] {
  return [...new Set(points.map((p) => p.series))].flatMap((series) =>
    fitSeries(
      series,
      points.filter((p) => p.series === series),
    ),
  );
}

/** Slope of the per-width means of log10 value against log10 width. */
function slope(byWidth: Map<number, number[]>): { slope: number; intercept: number } {
  const ws = [...byWidth.keys()].sort((a, b) => a - b);
  return linearFit(
    ws.map((w) => Math.log10(w)),
    ws.map((w) => mean(byWidth.get(w)!.map(Math.log10))),
  );
}

function fitSeries(series: string, ps: readonly WidthPoint[]): WidthFit[] {
  const widths = [...new Set(ps.map((p) => p.width))].sort((a, b) => a - b);
  if (widths.length < 2) return [];
  const level = THRESHOLDS.confidence.value;
  const seedsAt = new Map(
    widths.map((w) => [w, [...new Set(ps.filter((p) => p.width === w).map((p) => p.seed))].sort((a, b) => a - b)]),
  );
  const canBoot = widths.every((w) => seedsAt.get(w)!.length >= 2);
  // One set of resamples for the whole series: the same seeds for every term (paired differences).
  const rng = new Rng(`width-bootstrap:${series}`);
  const B = THRESHOLDS.bootstrapResamples.value;
  const draws = canBoot
    ? Array.from(
        { length: B },
        () =>
          new Map(
            widths.map((w) => {
              const seeds = seedsAt.get(w)!;
              return [w, seeds.map(() => seeds[rng.int(seeds.length)]!)] as const;
            }),
          ),
      )
    : [];
  const out: WidthFit[] = [];
  for (const term of WIDTH_TERMS) {
    const tp = ps.filter((p) => p.term === term);
    const byWidth = new Map<number, number[]>();
    for (const p of tp) byWidth.set(p.width, [...(byWidth.get(p.width) ?? []), p.value]);
    if (byWidth.size < 2) continue;
    const f = slope(byWidth);
    let lo = NaN,
      hi = NaN,
      ciMethod: WidthFit["ciMethod"] = "none";
    let boot: number[] = [];
    if (canBoot && byWidth.size === widths.length) {
      const valueOf = new Map(tp.map((p) => [`${p.width}|${p.seed}`, p.value]));
      boot = draws.map((d) => {
        const resampled = new Map(
          widths.map(
            (w) =>
              [
                w,
                d
                  .get(w)!
                  .map((s) => valueOf.get(`${w}|${s}`))
                  .filter((v): v is number => v !== undefined),
              ] as const,
          ),
        );
        return slope(resampled).slope;
      });
      [lo, hi] = percentileInterval(boot, level);
      ciMethod = "bootstrap over seeds";
    } else if (byWidth.size >= 3) {
      [lo, hi] = residualInterval(byWidth, f, level);
      ciMethod = "t (fit residuals)";
    }
    out.push({
      series,
      optimizer: ps[0]!.optimizer,
      e: ps[0]!.e,
      term,
      gamma: f.slope,
      intercept: f.intercept,
      points: tp.length,
      widths: byWidth.size,
      lo,
      hi,
      ciMethod,
      boot,
    });
  }
  return out;
}

/** The slope's t interval from the fit's residuals over widths (one seed per width: no bootstrap possible). */
function residualInterval(
  byWidth: ReadonlyMap<number, number[]>,
  f: { slope: number; intercept: number },
  level: number,
): [number, number] {
  const ws = [...byWidth.keys()];
  const x = ws.map((w) => Math.log10(w));
  const y = ws.map((w) => mean(byWidth.get(w)!.map(Math.log10)));
  const mx = mean(x);
  const sxx = x.reduce((a, v) => a + (v - mx) ** 2, 0);
  const rss = x.reduce((a, v, i) => a + (y[i]! - (f.intercept + f.slope * v)) ** 2, 0);
  const se = Math.sqrt(rss / (x.length - 2) / sxx);
  const t = tQuantile(1 - (1 - level) / 2, x.length - 2);
  return [f.slope - t * se, f.slope + t * se];
}

/** Percentile interval of a bootstrap distribution. */
export function percentileInterval(xs: readonly number[], level: number): [number, number] {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return [NaN, NaN];
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))]!;
  return [q((1 - level) / 2), q(1 - (1 - level) / 2)];
}

/** γ̂(a) − γ̂(b) of one series with a paired CI (bootstrap when both fits have one; else none). */
export function gammaGap(a: WidthFit, b: WidthFit): { gap: number; lo: number; hi: number } {
  const gap = a.gamma - b.gamma;
  if (a.boot.length && a.boot.length === b.boot.length) {
    const [lo, hi] = percentileInterval(
      a.boot.map((x, i) => x - b.boot[i]!),
      THRESHOLDS.confidence.value,
    );
    return { gap, lo, hi };
  }
  return { gap, lo: NaN, hi: NaN };
}
