// Every threshold the reporter uses to turn a statistic into a verdict, in one place, each with its reason.
// The claims themselves, what each statistic measures and why these numbers are in docs/paper-claims.md; change a
// value here and every report (and claims.json) follows. Tests in claims.test.ts pin the behaviour at the edges.

export interface Threshold {
  readonly value: number;
  readonly reason: string;
}

export const THRESHOLDS = {
  confidence: {
    value: 0.95,
    reason:
      "Two-sided level of every interval in a verdict (t intervals over runs, bootstrap over seeds, Wilson for " +
      "accuracies).",
  },
  c1NearInit: {
    value: 1.25,
    reason:
      "C1 'near its initial value': the final ‖A‖_F within a factor 1.25 of the first logged one (|log ratio| ≤ log " +
      "1.25). " +
      "Figure 2's AdamW curve moves by a few per cent; a factor 1.5 or more is a different picture, and " +
      "the band between is left inconclusive by requiring the whole interval inside (supported) or outside " +
      "(contradicted).",
  },
  c1BGrowth: {
    value: 2,
    reason:
      "C1 'B grows from 0': ‖B‖_F at the end at least twice its value after the first step (a B that stalls " +
      "after one Adam step fails).",
  },
  c2FractionStopped: {
    value: 0.9,
    reason:
      "C2: the stop condition counts as met when at least 90 % of Stable-LoRA's modules stopped (a few late " +
      "modules do not overturn it).",
  },
  c2EarlyFraction: {
    value: 0.5,
    reason: "C2 'within the first part of training': median stop step in the first half of the run.",
  },
  c2ShrinkHorizon: {
    value: 0.1,
    reason:
      "C2: a run too short for the shrink alone to take A to 10 % of A0 ((1−λ)^T > 0.1, i.e. T < ln 10/λ) cannot " +
      "contradict the claim " +
      "when the condition has not fired yet: the verdict is then inconclusive, not contradicted.",
  },
  c3Dominance: {
    value: 2,
    reason:
      "C3 'δ1 dominates δ2': rms(δ1)/rms(δ2) above 2 under AdamW (interval over runs of the log ratio entirely " +
      "above log 2).",
  },
  gammaZero: {
    value: 0.25,
    reason:
      "C4 'Θ(1) in width' (γ ≈ 0): the exponents the theory predicts move by at least 1/2 when the learning-rate " +
      "exponent e changes by 1/2 " +
      "(docs/paper-claims.md), so |γ| ≤ 1/4 separates 0 from the nearest alternative; supported when the whole CI is " +
      "inside ±0.25.",
  },
  gammaGap: {
    value: 0.1,
    reason:
      "C4 'γ[δ1] > γ[δ2]': the gap γ̂δ1 − γ̂δ2 must exceed 0.1 (CI lower end), a tenth of the unit slope, above what " +
      "a fit over 5 widths resolves from noise.",
  },
  c6OverheadPct: {
    value: 2,
    reason:
      "C6: the paper reports +0.6 % step time; on a shared CPU, step times of one run swing by several per cent, so " +
      "the claim 'small overhead' is " +
      "supported when the CI of the paired difference stays below +2 %, contradicted when it lies above +2 %.",
  },
  ceiling: {
    value: 0.99,
    reason:
      "Accuracy ceiling: a cell whose 95 % Wilson interval reaches 99 % is marked [ceiling]; there at most one " +
      "document in a hundred separates " +
      "optimizers, so the column compares nothing.",
  },
  bootstrapResamples: {
    value: 2000,
    reason:
      "Bootstrap resamples for the γ̂ CIs (seeds resampled with replacement within each width): percentile " +
      "intervals are stable to ±0.01 at 2000.",
  },
} as const satisfies Record<string, Threshold>;

export type ThresholdName = keyof typeof THRESHOLDS;
