// "Paper's claims vs this data": one row per claim of the Stable-LoRA paper that an experiment's runs can speak
// to (C1–C6 of docs/paper-claims.md), each with the statistic computed from the results, the threshold it is held
// to (claims-thresholds.ts) and a verdict: supported, contradicted or inconclusive, with the reason. Verdicts are
// computed here and nowhere else; a claim the data cannot speak to (no AdamW runs, one width, …) has no row.
// Every function takes plain data (ClaimRun, fits, paired comparisons) so the tests can hand-build the inputs.
import type { MetricsRecord } from "../results.ts";
import type { RunAxes } from "./axes.ts";
import type { Block, PairedComparison } from "./aggregate.ts";
import type { WidthFit } from "./width-scaling.ts";
import { gammaGap, percentileInterval } from "./width-scaling.ts";
import { THRESHOLDS } from "./claims-thresholds.ts";
import { geometricMean, meanCI, median } from "./stats.ts";
import { cellFlags, paperFor } from "./tables.ts";
import { noSkill } from "./chance.ts";
import type { ReportTable } from "./tables.ts";

export type Verdict = "supported" | "contradicted" | "inconclusive";

export interface ClaimResult {
  /** "C1" … "C6" (C4a/C4b: the two parts of the width claim; a suffix names the optimizer where there are several). */
  id: string;
  claim: string;
  statistic: string;
  threshold: string;
  verdict: Verdict;
  reason: string;
  /** Where in the report the statistic can be seen (a figure or table name) and its anchor on the page. */
  figure: string;
  anchor: string;
  /** The numbers behind the statistic, for claims.json. */
  values: Record<string, number | string | null>;
}

/** What the claims need from a run (RunAxes → claimRuns; tests build these by hand). */
export interface ClaimRun {
  id: string;
  optimizer: string;
  /** Paired comparisons match runs with the same matchKey and seed (axes.ts). */
  matchKey: string;
  seed: number;
  steps: number;
  /** Stable-LoRA's shrink ratio and stop-condition switch (0 and false for the other optimizers). */
  lambda: number;
  stopCondition: boolean;
  status: string;
  metrics: readonly MetricsRecord[];
  /** Stable-LoRA's stop step per module (summary.json), when recorded. */
  stopSteps?: Record<string, number | null>;
  medianStepSeconds?: number;
}

/** The finished runs (status success): a run still training or failed half-way would read as "not stopped yet". */
export function claimRuns(runs: readonly RunAxes[]): ClaimRun[] {
  return runs
    .filter((r) => r.run.status === "success")
    .map((r) => {
      const o = r.config.optimizer;
      const stable = o.name === "stable-lora" ? o : null;
      return {
        id: r.run.runId,
        optimizer: r.optimizer,
        matchKey: r.matchKey,
        seed: r.seed,
        steps: r.config.train.steps,
        lambda: stable?.lambda ?? 0,
        stopCondition: stable?.stopCondition ?? false,
        status: r.run.status,
        metrics: r.run.metrics(),
        ...(r.run.summary?.stability?.stopSteps ? { stopSteps: r.run.summary.stability.stopSteps } : {}),
        ...(r.run.summary?.medianStepSeconds !== undefined
          ? { medianStepSeconds: r.run.summary.medianStepSeconds }
          : {}),
      };
    });
}

const T = THRESHOLDS;
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const sgn = (x: number, d = 2) => (Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(d)}` : "—");
const ci = (lo: number, hi: number, fmt: (x: number) => string = f2) =>
  Number.isFinite(lo) ? ` [${fmt(lo)}, ${fmt(hi)}]` : "";
const level = `${Math.round(100 * T.confidence.value)}%`;

/** Where a two-sided interval lies relative to a band [lo, hi]: inside, outside (disjoint), or straddling it. */
export function relativeTo(
  iv: { lo: number; hi: number },
  band: { lo: number; hi: number },
): "inside" | "outside" | "straddles" | "unknown" {
  if (!Number.isFinite(iv.lo) || !Number.isFinite(iv.hi)) return "unknown";
  if (iv.lo >= band.lo && iv.hi <= band.hi) return "inside";
  if (iv.hi < band.lo || iv.lo > band.hi) return "outside";
  return "straddles";
}

/** Mean of log values with a t interval, back on the ratio scale (geometric mean and its CI). */
function logCI(ratios: readonly number[]): {
  gm: number;
  lo: number;
  hi: number;
  n: number;
  logLo: number;
  logHi: number;
} {
  const logs = ratios.filter((x) => x > 0 && Number.isFinite(x)).map(Math.log);
  const c = meanCI(logs, T.confidence.value);
  return { gm: Math.exp(c.mean), lo: Math.exp(c.lo), hi: Math.exp(c.hi), n: c.n, logLo: c.lo, logHi: c.hi };
}

/** Per module: first logged value and value at `atStep` (or the last), of ‖A‖ or ‖B‖ (B: first value > 0). */
function moduleNorms(
  ms: readonly MetricsRecord[],
  factor: "normA" | "normB",
): Map<string, { first: number; firstStep: number; series: { step: number; v: number }[] }> {
  const out = new Map<string, { first: number; firstStep: number; series: { step: number; v: number }[] }>();
  for (const m of ms) {
    for (const [name, s] of Object.entries(m.modules ?? {})) {
      const v = s[factor];
      if (!(typeof v === "number" && Number.isFinite(v)) || (factor === "normB" && !(v > 0))) continue;
      if (!out.has(name)) out.set(name, { first: v, firstStep: m.step, series: [] });
      out.get(name)!.series.push({ step: m.step, v });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// C1: under AdamW ‖A‖_F stays near its initial value while ‖B‖_F grows from 0 (Figure 2).

export function claimC1(runs: readonly ClaimRun[]): ClaimResult | null {
  const adamw = runs.filter((r) => r.optimizer === "adamw" && r.metrics.length >= 2);
  if (!adamw.length) return null;
  const aRatios: number[] = [];
  const bGrowth: number[] = [];
  for (const r of adamw) {
    const A = moduleNorms(r.metrics, "normA");
    const B = moduleNorms(r.metrics, "normB");
    const ra = median([...A.values()].map((x) => x.series.at(-1)!.v / x.first));
    const gb = median([...B.values()].filter((x) => x.series.length >= 2).map((x) => x.series.at(-1)!.v / x.first));
    if (Number.isFinite(ra)) aRatios.push(ra);
    if (Number.isFinite(gb)) bGrowth.push(gb);
  }
  const a = logCI(aRatios);
  const b = geometricMean(bGrowth);
  const band = Math.log(T.c1NearInit.value);
  const where = relativeTo({ lo: a.logLo, hi: a.logHi }, { lo: -band, hi: band });
  let verdict: Verdict;
  let reason: string;
  if (Number.isFinite(b) && b < T.c1BGrowth.value) {
    verdict = "contradicted";
    reason = `‖B‖_F grew only ${f2(b)}× after its first step (needs ≥ ${T.c1BGrowth.value}×)`;
  } else if (where === "inside") {
    verdict = "supported";
    reason = `the ${level} CI of ‖A‖ final/initial lies within ×/÷ ${T.c1NearInit.value}, and ‖B‖_F grew ${f2(b)}×`;
  } else if (where === "outside") {
    verdict = "contradicted";
    reason = `‖A‖_F ${a.gm > 1 ? "grew" : "shrank"} to ${f2(a.gm)}× its initial value (${level} CI entirely outside ×/÷ ${T.c1NearInit.value})`;
  } else {
    verdict = "inconclusive";
    reason =
      where === "unknown"
        ? `${a.n} AdamW run${a.n === 1 ? "" : "s"}: no interval (needs ≥ 2 runs)`
        : `the ${level} CI of ‖A‖ final/initial straddles the ×/÷ ${T.c1NearInit.value} band`;
  }
  return {
    id: "C1",
    claim: "Under AdamW ‖A‖_F stays near its initial value while ‖B‖_F grows from 0 (Figure 2).",
    statistic: `‖A‖_F final/initial ${f2(a.gm)}×${ci(a.lo, a.hi)}; ‖B‖_F final/first-step ${f2(b)}× (geometric means over ${a.n} AdamW runs, median over modules)`,
    threshold: `near: within ×/÷ ${T.c1NearInit.value}; grows: ≥ ${T.c1BGrowth.value}×`,
    verdict,
    reason,
    figure: "‖A‖_F and ‖B‖_F (Figure 2 panel)",
    anchor: "fig-glance-norms",
    values: { a_ratio: a.gm, a_ratio_lo: nn(a.lo), a_ratio_hi: nn(a.hi), b_growth: nn(b), runs: a.n },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// C2: Stable-LoRA shrinks A early and its stop condition ‖A‖/n < ‖B‖/m is met within the first part of training.

/** Stop step per module of a Stable-LoRA run: summary.json's, else the last metrics record's. */
function stopStepsOf(r: ClaimRun): Record<string, number | null> {
  if (r.stopSteps && Object.keys(r.stopSteps).length) return r.stopSteps;
  const last = r.metrics.at(-1);
  return Object.fromEntries(
    Object.entries(last?.modules ?? {})
      .filter(([, s]) => s.stopStep !== undefined)
      .map(([n, s]) => [n, s.stopStep ?? null]),
  );
}

export function claimC2(runs: readonly ClaimRun[]): ClaimResult | null {
  const stable = runs.filter((r) => r.optimizer === "stable-lora" && r.stopCondition && r.metrics.length >= 1);
  if (!stable.length) return null;
  let modules = 0;
  const stopFractions: number[] = [];
  const shrink: number[] = [];
  let longEnough = true;
  for (const r of stable) {
    const stops = stopStepsOf(r);
    const A = moduleNorms(r.metrics, "normA");
    for (const [name, step] of Object.entries(stops)) {
      modules++;
      if (typeof step === "number") {
        stopFractions.push(step / r.steps);
        const a = A.get(name);
        // ‖A‖ at the last logged step up to the stop, against the first logged value.
        const at = a?.series.filter((p) => p.step <= step).at(-1);
        if (a && at) shrink.push(at.v / a.first);
      }
    }
    if (!(Math.pow(1 - r.lambda, r.steps) <= T.c2ShrinkHorizon.value)) longEnough = false;
  }
  if (!modules) return null;
  const fraction = stopFractions.length / modules;
  const medStop = median(stopFractions);
  const medShrink = median(shrink);
  const lambdas = [...new Set(stable.map((r) => r.lambda))];
  const needed = Math.ceil(Math.log(1 / T.c2ShrinkHorizon.value) / Math.min(...lambdas));
  let verdict: Verdict;
  let reason: string;
  if (fraction >= T.c2FractionStopped.value) {
    if (medStop <= T.c2EarlyFraction.value && medShrink < 1) {
      verdict = "supported";
      reason = `${pct(fraction)} of modules stopped, at a median ${pct(medStop)} of training, with ‖A‖ shrunk to ${f2(medShrink)}× A0 by then`;
    } else {
      verdict = "contradicted";
      reason =
        medShrink >= 1
          ? `‖A‖ at the stop step is ${f2(medShrink)}× its initial value: A was not shrunk`
          : `the median stop comes at ${pct(medStop)} of training, after the first ${pct(T.c2EarlyFraction.value)}`;
    }
  } else if (longEnough) {
    verdict = "contradicted";
    reason = `only ${pct(fraction)} of modules stopped, although the runs were long enough for the shrink alone to take A below ${pct(T.c2ShrinkHorizon.value)} of A0`;
  } else {
    verdict = "inconclusive";
    reason = `${pct(fraction)} of modules stopped; the runs are shorter than the ${needed} steps (ln 10/λ) the shrink needs to take A to ${pct(T.c2ShrinkHorizon.value)} of A0`;
  }
  return {
    id: "C2",
    claim: "Stable-LoRA shrinks A early and its stop condition ‖A‖/n < ‖B‖/m is met within the first part of training.",
    statistic: `${stopFractions.length} of ${modules} modules stopped (${pct(fraction)}); median stop at ${Number.isFinite(medStop) ? pct(medStop) : "—"} of the run; ‖A‖ at stop / A0 ${f2(medShrink)} (median)`,
    threshold: `≥ ${pct(T.c2FractionStopped.value)} stopped, median stop ≤ ${pct(T.c2EarlyFraction.value)} of training, A shrunk (< 1×)`,
    verdict,
    reason,
    figure: "Stable-LoRA stop steps; Stability table",
    anchor: "stability",
    values: {
      modules,
      stopped: stopFractions.length,
      fraction_stopped: nn(fraction),
      median_stop_fraction: nn(medStop),
      median_a_at_stop: nn(medShrink),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// C3: with a non-zero A0, δ1 dominates δ2 under AdamW; Stable-LoRA brings rms(δ1)/rms(δ2) toward 1 after it stops.

/** Geometric mean of δ1/δ2 over modules and probe steps: AdamW's second half; Stable-LoRA's steps after each module's stop. */
export function deltaRatioOf(r: ClaimRun): number {
  const stops = r.optimizer === "stable-lora" ? stopStepsOf(r) : null;
  const ratios: number[] = [];
  for (const m of r.metrics) {
    if (!m.delta) continue;
    for (const [name, d] of Object.entries(m.delta)) {
      if (!(d.d1 > 0 && d.d2 > 0)) continue;
      const from = stops ? stops[name] : r.steps / 2;
      if (typeof from === "number" && m.step > from) ratios.push(d.d1 / d.d2);
    }
  }
  return geometricMean(ratios);
}

export function claimC3(runs: readonly ClaimRun[]): ClaimResult | null {
  const adamw = runs.filter((r) => r.optimizer === "adamw");
  const stable = runs.filter((r) => r.optimizer === "stable-lora" && r.stopCondition);
  const rA = new Map(adamw.map((r) => [r.id, deltaRatioOf(r)]));
  const a = logCI([...rA.values()]);
  if (!a.n) return null;
  const diffs: number[] = [];
  const sRatios: number[] = [];
  for (const s of stable) {
    const rs = deltaRatioOf(s);
    if (!(rs > 0)) continue;
    sRatios.push(rs);
    const base = adamw.find((x) => x.matchKey === s.matchKey && x.seed === s.seed);
    const ra = base ? rA.get(base.id)! : NaN;
    if (ra > 0) diffs.push(Math.abs(Math.log(ra)) - Math.abs(Math.log(rs)));
  }
  const d = meanCI(diffs, T.confidence.value);
  const dom = relativeTo({ lo: a.logLo, hi: a.logHi }, { lo: Math.log(T.c3Dominance.value), hi: Infinity });
  const toward = Number.isFinite(d.lo) ? (d.lo > 0 ? "yes" : d.hi < 0 ? "no" : "unclear") : "unknown";
  let verdict: Verdict;
  let reason: string;
  if (dom === "outside") {
    verdict = "contradicted";
    reason = `under AdamW rms(δ1)/rms(δ2) = ${f2(a.gm)} (CI below ${T.c3Dominance.value}): δ1 does not dominate`;
  } else if (toward === "no") {
    verdict = "contradicted";
    reason = "Stable-LoRA's δ1/δ2 after its stop is further from 1 than AdamW's (paired CI < 0)";
  } else if (dom === "inside" && toward === "yes") {
    verdict = "supported";
    reason = `AdamW's δ1/δ2 = ${f2(a.gm)} (CI above ${T.c3Dominance.value}); Stable-LoRA's ${f2(geometricMean(sRatios))} is closer to 1 (paired CI of the |log| gain > 0)`;
  } else {
    verdict = "inconclusive";
    reason =
      dom === "unknown"
        ? "fewer than 2 AdamW runs with δ probes: no interval"
        : toward === "unknown"
          ? `${diffs.length} AdamW/Stable-LoRA pair${diffs.length === 1 ? "" : "s"} with probes after the stop: no interval`
          : "an interval straddles its threshold";
  }
  return {
    id: "C3",
    claim:
      "With a non-zero A0, δ1 dominates δ2 under AdamW, and Stable-LoRA brings rms(δ1)/rms(δ2) toward 1 after it stops.",
    statistic: `AdamW δ1/δ2 ${f2(a.gm)}${ci(a.lo, a.hi)} (${a.n} runs, 2nd half); Stable-LoRA ${f2(geometricMean(sRatios))} after the stop (${sRatios.length} runs); paired |log| gain ${sgn(d.mean)}${ci(d.lo, d.hi, sgn)} (${d.n} pairs)`,
    threshold: `dominates: δ1/δ2 > ${T.c3Dominance.value}; toward 1: paired gain in |log δ1/δ2| > 0`,
    verdict,
    reason,
    figure: "δ1/δ2 over steps; Stability table",
    anchor: "figures",
    values: {
      adamw_ratio: nn(a.gm),
      adamw_lo: nn(a.lo),
      adamw_hi: nn(a.hi),
      stable_ratio: nn(geometricMean(sRatios)),
      gain: nn(d.mean),
      gain_lo: nn(d.lo),
      gain_hi: nn(d.hi),
      pairs: d.n,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// C4: width scaling. (a) At η ∝ n^−1/2 with s fixed (the theory's scaling) every δ term is Θ(1): γ ≈ 0.
// (b) With a learning rate too small for the width (the largest exponent e studied), γ[δ1] > γ[δ2] under AdamW,
// and Stable-LoRA closes the gap.

const OPT_LABEL: Record<string, string> = { adamw: "AdamW", "stable-lora": "Stable-LoRA" };

export function claimC4(fits: readonly WidthFit[]): ClaimResult[] {
  const out: ClaimResult[] = [];
  const zero = T.gammaZero.value;
  for (const optimizer of ["adamw", "stable-lora"]) {
    const fs = fits.filter((f) => f.optimizer === optimizer && f.e === 0.5 && ["δ1", "δ2", "δ3"].includes(f.term));
    const series = [...new Set(fs.map((f) => f.series))];
    if (series.length !== 1) continue; // one e = 0.5 series per optimizer (several λ: no single verdict)
    const where = fs.map((f) => relativeTo(f, { lo: -zero, hi: zero }));
    const verdict: Verdict = where.some((w) => w === "outside")
      ? "contradicted"
      : where.length === 3 && where.every((w) => w === "inside")
        ? "supported"
        : "inconclusive";
    const bad = fs.filter((f, i) => where[i] === "outside").map((f) => `γ̂ ${f.term} ${sgn(f.gamma)}`);
    out.push({
      id: `C4a ${OPT_LABEL[optimizer]}`,
      claim:
        "Under the theory's scaling (s fixed, η ∝ n^−1/2: γ[s] + 2γ[η] + 1 = 0) every δ term is Θ(1) in width (γ ≈ 0).",
      statistic:
        fs.map((f) => `γ̂ ${f.term} ${sgn(f.gamma)}${ci(f.lo, f.hi, sgn)}`).join("; ") +
        ` (${series[0]}, ${Math.max(...fs.map((f) => f.widths))} widths)`,
      threshold: `|γ| ≤ ${zero}: the whole CI inside ±${zero}`,
      verdict,
      reason:
        verdict === "supported"
          ? `every CI lies within ±${zero}`
          : verdict === "contradicted"
            ? `${bad.join(", ")}: CI entirely outside ±${zero}`
            : fs.some((f) => !Number.isFinite(f.lo))
              ? "no CI (needs ≥ 2 seeds per width, or ≥ 3 widths)"
              : `the CI of ${fs
                  .filter((f, i) => where[i] === "straddles")
                  .map((f) => `γ̂ ${f.term}`)
                  .join(", ")} straddles ±${zero}`,
      figure: "δ terms against width; Width study table",
      anchor: "width",
      values: Object.fromEntries(
        fs.flatMap((f) => [
          [`gamma_${f.term}`, f.gamma],
          [`gamma_${f.term}_lo`, nn(f.lo)],
          [`gamma_${f.term}_hi`, nn(f.hi)],
        ]),
      ),
    });
  }
  return [...out, ...claimC4b(fits)];
}

/** C4b: at the largest exponent both optimizers were run with, if it is above the theory's 1/2. */
function claimC4b(fits: readonly WidthFit[]): ClaimResult[] {
  const out: ClaimResult[] = [];
  const eA = fits.filter((f) => f.optimizer === "adamw").map((f) => f.e);
  const eS = new Set(fits.filter((f) => f.optimizer === "stable-lora").map((f) => f.e));
  const eMax = Math.max(-Infinity, ...eA.filter((e) => eS.has(e)));
  if (eMax > 0.5) {
    const pick = (o: string, t: string) => {
      const fs = fits.filter((f) => f.optimizer === o && f.e === eMax && f.term === t);
      return fs.length === 1 ? fs[0]! : null;
    };
    const [a1, a2, s1, s2] = [
      pick("adamw", "δ1"),
      pick("adamw", "δ2"),
      pick("stable-lora", "δ1"),
      pick("stable-lora", "δ2"),
    ];
    if (a1 && a2 && s1 && s2) {
      const ga = gammaGap(a1, a2);
      const gs = gammaGap(s1, s2);
      // Closing the gap: AdamW's gap minus Stable-LoRA's; independent bootstraps, so draws pair by index.
      const diffBoot =
        a1.boot.length && s1.boot.length === a1.boot.length
          ? a1.boot.map((x, i) => x - a2.boot[i]! - (s1.boot[i]! - s2.boot[i]!))
          : [];
      const [dlo, dhi] = diffBoot.length ? percentileInterval(diffBoot, T.confidence.value) : [NaN, NaN];
      const gap = T.gammaGap.value;
      let verdict: Verdict;
      let reason: string;
      if (Number.isFinite(ga.hi) && ga.hi < 0) {
        verdict = "contradicted";
        reason = `under AdamW γ̂δ1 − γ̂δ2 = ${sgn(ga.gap)} with CI below 0: δ1 grows more slowly than δ2`;
      } else if (Number.isFinite(dhi) && dhi < 0) {
        verdict = "contradicted";
        reason = "Stable-LoRA's gap is larger than AdamW's (CI of the difference below 0)";
      } else if (Number.isFinite(ga.lo) && ga.lo > gap && Number.isFinite(dlo) && dlo > 0) {
        verdict = "supported";
        reason = `AdamW's gap ${sgn(ga.gap)} (CI above ${gap}); Stable-LoRA's ${sgn(gs.gap)} is smaller (CI of the difference above 0)`;
      } else {
        verdict = "inconclusive";
        reason =
          !Number.isFinite(ga.lo) || !Number.isFinite(dlo)
            ? "no bootstrap CI (needs ≥ 2 seeds per width)"
            : ga.lo > gap
              ? `AdamW's gap is above ${gap}, but the CI of the difference of the gaps straddles 0: Stable-LoRA's gap is not measurably smaller`
              : `the CI of AdamW's gap straddles ${gap}: δ1 is not measurably outgrowing δ2`;
      }
      out.push({
        id: "C4b",
        claim:
          "With a learning rate too small for the width, γ[δ1] > γ[δ2] under AdamW (δ1 outgrows δ2), and Stable-LoRA closes the gap.",
        statistic: `at η ∝ n^−${eMax}: AdamW γ̂δ1 − γ̂δ2 ${sgn(ga.gap)}${ci(ga.lo, ga.hi, sgn)}; Stable-LoRA ${sgn(gs.gap)}${ci(gs.lo, gs.hi, sgn)}; difference ${sgn(ga.gap - gs.gap)}${ci(dlo, dhi, sgn)}`,
        threshold: `AdamW gap > ${gap}; difference of gaps > 0`,
        verdict,
        reason,
        figure: "δ terms against width; Width study table",
        anchor: "width",
        values: {
          e: eMax,
          adamw_gap: ga.gap,
          adamw_gap_lo: nn(ga.lo),
          adamw_gap_hi: nn(ga.hi),
          stable_gap: gs.gap,
          stable_gap_lo: nn(gs.lo),
          stable_gap_hi: nn(gs.hi),
          diff_lo: nn(dlo),
          diff_hi: nn(dhi),
        },
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// C5: accuracy: Stable-LoRA ≥ AdamW (paired, the report's CI), and the paper's numbers where the experiment is one
// of its tables.

export interface C5Input {
  pairs: readonly PairedComparison[];
  /** Per Stable-LoRA label: every accuracy cell behind its pairs (Stable-LoRA's and AdamW's) is at chance or ceiling. */
  uninformative: ReadonlyMap<string, "chance" | "ceiling" | null>;
  /** Per Stable-LoRA label: the paper's Stable-LoRA − AdamW gain on this experiment's table, if it has one. */
  paperGain: ReadonlyMap<string, { gain: number; source: string }>;
}

export function claimC5(input: C5Input): ClaimResult[] {
  const stable = input.pairs.filter((p) => p.rowKey.split("|")[0] === "stable-lora" && p.ci.n > 0);
  const labels = [...new Set(stable.map((p) => p.label))];
  return labels.map((label) => {
    const ps = stable.filter((p) => p.label === label);
    const p = ps.find((x) => x.pooled) ?? (ps.length === 1 ? ps[0]! : ps.sort((a, b) => b.ci.n - a.ci.n)[0]!);
    const paper = input.paperGain.get(label);
    const flat = input.uninformative.get(label) ?? null;
    let verdict: Verdict;
    let reason: string;
    if (flat) {
      verdict = "inconclusive";
      reason = `every accuracy behind these pairs is ${flat === "chance" ? "at or below chance" : "at the ceiling"}: the difference ranks noise`;
    } else if (p.ci.n < 2 || !Number.isFinite(p.ci.lo)) {
      verdict = "inconclusive";
      reason = `${p.ci.n} pair${p.ci.n === 1 ? "" : "s"}: no interval`;
    } else if (p.ci.lo > 0) {
      verdict = "supported";
      reason = `the ${level} CI of the paired difference lies above 0`;
    } else if (p.ci.hi < 0) {
      verdict = "contradicted";
      reason = `the ${level} CI of the paired difference lies below 0`;
    } else {
      verdict = "inconclusive";
      reason = `the ${level} CI contains 0`;
    }
    const paperText = paper
      ? `; paper ${sgn(paper.gain)} pp (${paper.source})${Number.isFinite(p.ci.lo) ? `, ${paper.gain >= p.ci.lo && paper.gain <= p.ci.hi ? "inside" : "outside"} our CI` : ""}`
      : "";
    return {
      id: labels.length > 1 ? `C5 ${label}` : "C5",
      claim: "Stable-LoRA's accuracy is at least AdamW's (paired by model, task and seed), as in the paper's tables.",
      statistic: `${label} − ${p.baselineLabel}: ${sgn(p.ci.mean)} pp${ci(p.ci.lo, p.ci.hi, sgn)} (${p.model}, n=${p.ci.n})${paperText}`,
      threshold: "supported: CI above 0; contradicted: CI below 0",
      verdict,
      reason,
      figure: "Paired vs AdamW table",
      anchor: "paired",
      values: { mean: nn(p.ci.mean), lo: nn(p.ci.lo), hi: nn(p.ci.hi), n: p.ci.n, paper_gain: paper?.gain ?? null },
    };
  });
}

/** The C5 inputs from the report's blocks: chance/ceiling of the cells behind each Stable-LoRA row, the paper's gain. */
export function c5Context(blocks: readonly Block[], pairs: readonly PairedComparison[]): Omit<C5Input, "pairs"> {
  const uninformative = new Map<string, "chance" | "ceiling" | null>();
  const paperGain = new Map<string, { gain: number; source: string }>();
  for (const p of pairs.filter((x) => x.rowKey.split("|")[0] === "stable-lora" && !x.pooled)) {
    const b = blocks.find((x) => x.model === p.model);
    if (!b) continue;
    const rows = b.rows.filter((r) => r.label === p.label || r.label === p.baselineLabel);
    const flags = rows.flatMap((r) =>
      b.tasks.filter((t) => r.cells[t]!.n > 0).map((t) => cellFlags(r.cells[t], b.metrics[t]!, b.chance[t], "mean")),
    );
    const prev = uninformative.has(p.label) ? uninformative.get(p.label)! : undefined;
    const now =
      flags.length && flags.every(noSkill)
        ? "chance"
        : flags.length && flags.every((f) => f.includes("ceiling"))
          ? "ceiling"
          : null;
    uninformative.set(p.label, prev === undefined ? now : prev === now ? now : null);
    const sRow = b.rows.find((r) => r.label === p.label);
    const aRow = b.rows.find((r) => r.label === p.baselineLabel);
    const ps = sRow && paperFor(b, sRow);
    const pa = aRow && paperFor(b, aRow);
    if (ps && pa && ps.column === pa.column) paperGain.set(p.label, { gain: ps.value - pa.value, source: ps.source });
  }
  return { uninformative, paperGain };
}

// ---------------------------------------------------------------------------------------------------------------
// C6: overhead: Stable-LoRA ≈ +0.6 % step time over AdamW.

export function claimC6(runs: readonly ClaimRun[]): ClaimResult | null {
  const ok = (r: ClaimRun) =>
    r.status === "success" && typeof r.medianStepSeconds === "number" && r.medianStepSeconds > 0;
  const adamw = runs.filter((r) => r.optimizer === "adamw" && ok(r));
  const pcts: number[] = [];
  for (const s of runs.filter((r) => r.optimizer === "stable-lora" && ok(r))) {
    const a = adamw.find((x) => x.matchKey === s.matchKey && x.seed === s.seed);
    if (a) pcts.push((s.medianStepSeconds! / a.medianStepSeconds! - 1) * 100);
  }
  if (!pcts.length) return null;
  const c = meanCI(pcts, T.confidence.value);
  const lim = T.c6OverheadPct.value;
  const where = relativeTo(c, { lo: -Infinity, hi: lim });
  const verdict: Verdict = where === "inside" ? "supported" : where === "outside" ? "contradicted" : "inconclusive";
  return {
    id: "C6",
    claim: "Stable-LoRA costs ≈ +0.6 % step time over AdamW (the paper's overhead table).",
    statistic: `median step time, Stable-LoRA vs AdamW: ${sgn(c.mean, 1)}%${ci(c.lo, c.hi, (x) => `${sgn(x, 1)}%`)} (${c.n} pairs; paper +0.6%)`,
    threshold: `supported: CI below +${lim}%; contradicted: CI above +${lim}%`,
    verdict,
    reason:
      where === "inside"
        ? `the ${level} CI stays below +${lim}%`
        : where === "outside"
          ? `the ${level} CI lies above +${lim}% (fixed per-step costs weigh most on small models; the paper timed Qwen2-0.5B)`
          : where === "unknown"
            ? `${c.n} pair${c.n === 1 ? "" : "s"}: no interval`
            : `the ${level} CI straddles +${lim}% (step times on a shared machine are noisy)`,
    figure: "Overhead table",
    anchor: "overhead",
    values: { mean_pct: nn(c.mean), lo_pct: nn(c.lo), hi_pct: nn(c.hi), pairs: c.n },
  };
}

// ---------------------------------------------------------------------------------------------------------------

export interface ClaimsInput {
  runs: readonly ClaimRun[];
  fits: readonly WidthFit[];
  c5: C5Input;
}

/** Every claim the data can speak to, in the order C1 … C6. */
export function evaluateClaims(x: ClaimsInput): ClaimResult[] {
  return [
    claimC1(x.runs),
    claimC2(x.runs),
    claimC3(x.runs),
    ...claimC4(x.fits),
    ...claimC5(x.c5),
    claimC6(x.runs),
  ].filter((c): c is ClaimResult => c !== null);
}

/** One sentence for "At a glance": the verdicts in order. */
export function claimsGlanceLine(claims: readonly ClaimResult[]): string | null {
  if (!claims.length) return null;
  return `Paper's claims vs this data (computed verdicts; details in the first table): ${claims.map((c) => `${c.id} ${c.verdict}`).join("; ")}.`;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : "—";
}

function nn(x: number): number | null {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : null;
}

/** The "Paper's claims vs this data" table. */
export function claimsTable(claims: readonly ClaimResult[]): ReportTable {
  return {
    id: "claims",
    title: "Paper's claims vs this data",
    header: ["claim", "what the paper says", "statistic (this data)", "threshold", "verdict", "why", "see"],
    rows: claims.map((c) => [
      { text: c.id },
      { text: c.claim, kind: "text" },
      { text: c.statistic, kind: "text" },
      { text: c.threshold, kind: "text" },
      { text: c.verdict, bold: c.verdict !== "inconclusive", kind: `verdict ${c.verdict}` },
      { text: c.reason, kind: "text" },
      { text: c.figure, href: `#${c.anchor}` },
    ]),
    notes: [
      "Verdicts are computed from the runs by src/report/claims.ts against the thresholds in src/report/claims-thresholds.ts (each with its reason); docs/paper-claims.md states each claim, its statistic and the theory behind it. Inconclusive = the data are not precise enough to decide, not a failure.",
    ],
    csv: claims.map((c) => ({
      id: c.id,
      claim: c.claim,
      statistic: c.statistic,
      threshold: c.threshold,
      verdict: c.verdict,
      reason: c.reason,
      figure: c.figure,
    })),
  };
}
