// Each claim's statistic and verdict on hand-built metric series: for every claim one input that supports it, one
// that contradicts it and one that cannot decide it (the thresholds come from claims-thresholds.ts). Also the
// Wilson interval against published values, the chance/ceiling flags, and the recovery of the lr exponent e.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { MetricsRecord, ModuleSignals } from "../results.ts";
import { claimC1, claimC2, claimC3, claimC4, claimC5, claimC6 } from "./claims.ts";
import type { ClaimRun } from "./claims.ts";
import { fitWidthPoints } from "./width-scaling.ts";
import type { WidthPoint } from "./width-scaling.ts";
import { meanCI } from "./stats.ts";
import type { PairedComparison } from "./aggregate.ts";
import { wilsonInterval } from "./binomial.ts";
import { flagAccuracy } from "./chance.ts";
import { lrExponents } from "./lr-scaling.ts";

const MODULES = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"];

interface Step {
  A: number;
  B: number;
  stop?: number | null;
  /** rms(δ1), rms(δ2) on probe steps. */
  d1?: number;
  d2?: number;
}

/** A metrics series: `at(step, moduleIndex)` gives ‖A‖, ‖B‖ (and δ terms, stop step) of each module. */
function series(steps: number, at: (t: number, k: number) => Step, probeEvery = 10): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (let t = 1; t <= steps; t++) {
    const modules: Record<string, ModuleSignals> = {};
    const delta: NonNullable<MetricsRecord["delta"]> = {};
    MODULES.forEach((name, k) => {
      const s = at(t, k);
      modules[name] = {
        normA: s.A,
        normB: s.B,
        normRatio: s.B > 0 ? s.A / s.B : null,
        gradNormA: 0,
        gradNormB: 0,
        ...(s.stop !== undefined ? { stopStep: s.stop } : {}),
      };
      if (s.d1 !== undefined && s.d2 !== undefined)
        delta[name] = { d1: s.d1, d2: s.d2, d3: 1e-6, dY: s.d1 + s.d2, identityError: 0 };
    });
    out.push({
      step: t,
      loss: 1,
      lr: 1e-3,
      tokens: 1,
      lossTokens: 1,
      tokensPerSec: 1,
      stepSeconds: 0.1,
      gradNorm: 1,
      gradNormA: 1,
      gradNormB: 1,
      normA: 0,
      normB: 0,
      nonFinite: 0,
      numTensors: 0,
      optim: {},
      modules,
      ...(t % probeEvery === 0 ? { delta } : {}),
    });
  }
  return out;
}

function run(p: Partial<ClaimRun> & { optimizer: string; seed: number; metrics: MetricsRecord[] }): ClaimRun {
  return {
    id: `${p.optimizer}-${p.seed}-${p.matchKey ?? "m"}`,
    matchKey: "m",
    steps: p.metrics.length,
    lambda: 0.02,
    stopCondition: true,
    status: "success",
    ...p,
  };
}

/** Deterministic jitter in [−1, 1] from integers. */
const jitter = (...xs: number[]) => Math.sin(xs.reduce((a, x) => a * 31 + x + 7, 17));

test("Wilson interval: published values; flags for chance and ceiling", () => {
  // p = 0.5, n = 100: [0.4038, 0.5962]; 0/10: [0, 0.2775] (Brown, Cai & DasGupta 2001; any Wilson calculator).
  const a = wilsonInterval(0.5, 100);
  assert.ok(Math.abs(a.lo - 0.4038) < 1e-4 && Math.abs(a.hi - 0.5962) < 1e-4, JSON.stringify(a));
  const b = wilsonInterval(0, 10);
  assert.ok(b.lo === 0 && Math.abs(b.hi - 0.2775) < 1e-4, JSON.stringify(b));
  assert.deepEqual(flagAccuracy(0.27, 200, 0.25).flags, ["chance"], "27% of 200 docs is indistinguishable from 25%");
  assert.deepEqual(flagAccuracy(0.4, 200, 0.25).flags, [], "40% of 200 docs is not");
  assert.deepEqual(flagAccuracy(0.3, 50, 1 / 3).flags, ["chance"]);
  assert.deepEqual(flagAccuracy(1, 200, 0.25).flags, ["ceiling"]);
  assert.deepEqual(flagAccuracy(0.985, 200, 0.25).flags, ["ceiling"], "197/200: the interval reaches 99%");
  assert.deepEqual(flagAccuracy(0.9, 200, 0.25).flags, []);
  assert.deepEqual(
    flagAccuracy(0.11, 200, 0.25).flags,
    ["below chance"],
    "stories260K on OpenBookQA: a bias, not skill",
  );
  assert.deepEqual(flagAccuracy(0.5, 200, null).flags, [], "no chance rate (generation): only the ceiling is tested");
});

test("lr exponents are recovered from (width, lr); runs at n0 belong to every exponent; an lr grid is not a scaling", () => {
  const lr = (n: number, e: number) => Number((2e-3 * (n / 64) ** -e).toPrecision(3));
  const items = [
    { group: "adamw", width: 64, lr: 2e-3 },
    { group: "adamw", width: 256, lr: lr(256, 0.5) },
    { group: "adamw", width: 256, lr: lr(256, 1) },
    { group: "adamw", width: 1024, lr: lr(1024, 0) },
    { group: "grid", width: 64, lr: 1e-4 },
    { group: "grid", width: 64, lr: 2e-4 },
    { group: "grid", width: 128, lr: 1e-4 },
  ];
  assert.deepEqual(lrExponents(items), [[0, 0.5, 1], [0.5], [1], [0], null, null, null]);
});

// ---------------------------------------------------------------------------------------------------------------

test("C1: ‖A‖ near its init while ‖B‖ grows → supported; A grows 2.4× → contradicted; straddling → inconclusive", () => {
  const make = (aEnd: (seed: number) => number) =>
    [0, 1, 2].map((seed) =>
      run({
        optimizer: "adamw",
        seed,
        metrics: series(100, (t) => ({ A: 1.63 * (1 + ((aEnd(seed) - 1) * (t - 1)) / 99), B: 0.01 * t })),
      }),
    );
  const ok = claimC1(make((s) => 1.03 + 0.01 * s))!;
  assert.equal(ok.verdict, "supported", ok.reason);
  assert.match(ok.statistic, /‖A‖_F final\/initial 1\.04×/);
  // The quickstart report the issue quotes: AdamW's ‖A‖_F on q_proj from 1.6 to 3.9 in 100 steps.
  const grew = claimC1(make((s) => 2.4 + 0.02 * s))!;
  assert.equal(grew.verdict, "contradicted");
  assert.match(grew.reason, /grew to 2\.4\d× its initial value/);
  const mixed = claimC1(make((s) => [1.05, 1.5, 1.25][s]!))!;
  assert.equal(mixed.verdict, "inconclusive", mixed.reason);
  const stalled = claimC1(
    [0, 1].map((seed) => run({ optimizer: "adamw", seed, metrics: series(50, () => ({ A: 1.63, B: 0.01 })) })),
  )!;
  assert.equal(stalled.verdict, "contradicted");
  assert.match(stalled.reason, /‖B‖_F grew only 1\.00×/);
  assert.equal(
    claimC1([run({ optimizer: "stable-lora", seed: 0, metrics: series(10, () => ({ A: 1, B: 1 })) })]),
    null,
    "no AdamW runs: no row",
  );
});

test("C2: early stop with A shrunk → supported; no stop in long runs → contradicted; no stop in short runs → inconclusive", () => {
  // λ = 0.02: A shrinks by 2% a step until the module stops at step 40 (k = 0) or 45 (k = 1).
  const early = [0, 1].map((seed) =>
    run({
      optimizer: "stable-lora",
      seed,
      lambda: 0.02,
      metrics: series(150, (t, k) => {
        const stop = 40 + 5 * k;
        return { A: 1.63 * 0.98 ** Math.min(t, stop), B: 0.004 * t, stop: t >= stop ? stop : null };
      }),
    }),
  );
  const ok = claimC2(early)!;
  assert.equal(ok.verdict, "supported", ok.reason);
  assert.match(ok.statistic, /^4 of 4 modules stopped \(100%\); median stop at 28% of the run/);
  // λ = 0.05 for 100 steps: (0.95)^100 < 0.1, the shrink alone would have pushed A under B; it never stopped.
  const never = (lambda: number) =>
    [0, 1].map((seed) =>
      run({
        optimizer: "stable-lora",
        seed,
        lambda,
        metrics: series(100, (t) => ({ A: 1.63 * (1 - lambda) ** t, B: 1e-4, stop: null })),
      }),
    );
  const bad = claimC2(never(0.05))!;
  assert.equal(bad.verdict, "contradicted");
  assert.match(bad.reason, /only 0% of modules stopped, although the runs were long enough/);
  // λ = 5e-4 (the paper's example) for 100 steps: too short to tell.
  const short = claimC2(never(5e-4))!;
  assert.equal(short.verdict, "inconclusive");
  assert.match(short.reason, /shorter than the 4606 steps/);
  const late = claimC2(
    [0, 1].map((seed) =>
      run({
        optimizer: "stable-lora",
        seed,
        metrics: series(100, (t) => ({ A: 1.63 * 0.98 ** Math.min(t, 90), B: 0.02 * t, stop: t >= 90 ? 90 : null })),
      }),
    ),
  )!;
  assert.equal(late.verdict, "contradicted", "stopping at 90% of training is not early");
});

test("C3: δ1 ≫ δ2 under AdamW and Stable-LoRA near 1 → supported; δ1 ≈ δ2 → contradicted; one pair → inconclusive", () => {
  const adamw = (ratio: number, seeds: number[]) =>
    seeds.map((seed) =>
      run({
        optimizer: "adamw",
        seed,
        metrics: series(100, (t, k) => ({ A: 1.6, B: 0.5, d1: ratio * (1 + 0.05 * jitter(t, k, seed)), d2: 1 })),
      }),
    );
  const stable = (ratio: number, seeds: number[]) =>
    seeds.map((seed) =>
      run({
        optimizer: "stable-lora",
        seed,
        metrics: series(100, (t, k) => ({
          A: 0.3,
          B: 0.5,
          stop: t >= 30 ? 30 : null,
          d1: (t > 30 ? ratio : 6) * (1 + 0.05 * jitter(t, k, seed, 9)),
          d2: 1,
        })),
      }),
    );
  const ok = claimC3([...adamw(5, [0, 1, 2]), ...stable(1.2, [0, 1, 2])])!;
  assert.equal(ok.verdict, "supported", ok.reason);
  assert.match(ok.statistic, /AdamW δ1\/δ2 [45]\.\d\d .*Stable-LoRA 1\.2\d after the stop \(3 runs\).*\(3 pairs\)/);
  const no = claimC3([...adamw(1, [0, 1, 2]), ...stable(1, [0, 1, 2])])!;
  assert.equal(no.verdict, "contradicted");
  assert.match(no.reason, /δ1 does not dominate/);
  const one = claimC3([...adamw(5, [0, 1, 2]), ...stable(1.2, [0])])!;
  assert.equal(one.verdict, "inconclusive");
  assert.match(one.reason, /1 AdamW\/Stable-LoRA pair with probes after the stop/);
  const away = claimC3([...adamw(5, [0, 1, 2]), ...stable(20, [0, 1, 2])])!;
  assert.equal(away.verdict, "contradicted", "Stable-LoRA further from 1 than AdamW");
});

/** Width-study points with known exponents γ per term, 3 seeds, multiplicative noise `noise`. */
function widthPoints(
  optimizer: string,
  e: number,
  gammas: Record<string, number>,
  noise: number,
  seeds = [0, 1, 2],
  widths = [64, 128, 256, 512, 1024],
  seedSpread = 0,
): WidthPoint[] {
  const label = `${optimizer === "adamw" ? "AdamW" : "Stable-LoRA"}, η ∝ n^−${e}`;
  return widths.flatMap((width) =>
    seeds.flatMap((seed) =>
      Object.entries(gammas).map(([term, g]) => ({
        series: label,
        optimizer,
        e,
        term,
        width,
        seed,
        value:
          0.01 *
          (width / 64) ** g *
          (1 + noise * jitter(width, seed, term.length, term.charCodeAt(1))) *
          (1 + seedSpread * (seed - 1)),
      })),
    ),
  );
}

test("C4a: γ ≈ 0 at η ∝ n^−½ → supported; γδ1 = 0.6 → contradicted; noisy → inconclusive", () => {
  const flat = { δ1: 0, δ2: 0, δ3: 0, ΔY: 0 };
  const ok = claimC4(fitWidthPoints(widthPoints("stable-lora", 0.5, flat, 0.02)));
  assert.equal(ok.length, 1);
  assert.equal(ok[0]!.id, "C4a Stable-LoRA");
  assert.equal(ok[0]!.verdict, "supported", ok[0]!.reason);
  const bad = claimC4(fitWidthPoints(widthPoints("adamw", 0.5, { ...flat, δ1: 0.6 }, 0.02)))[0]!;
  assert.equal(bad.verdict, "contradicted");
  assert.match(bad.reason, /γ̂ δ1 \+0\.6\d: CI entirely outside ±0\.25/);
  // True γ on the edge of the band: the CI straddles +0.25.
  const noisy = claimC4(
    fitWidthPoints(widthPoints("adamw", 0.5, { ...flat, δ1: 0.25 }, 0, [0, 1, 2], [64, 128, 256, 512, 1024], 0.6)),
  )[0]!;
  assert.equal(noisy.verdict, "inconclusive", noisy.statistic);
  const oneSeed = claimC4(fitWidthPoints(widthPoints("adamw", 0.5, flat, 0.02, [0], [64, 128])))[0]!;
  assert.equal(oneSeed.verdict, "inconclusive");
  assert.match(oneSeed.reason, /no CI/);
});

test("C4b: AdamW's γ̂δ1 − γ̂δ2 > 0 at the smallest lr and Stable-LoRA's gap smaller → supported; negative gap → contradicted; tiny gap → inconclusive", () => {
  const at = (adamwGap: number, stableGap: number, noise: number) =>
    fitWidthPoints([
      ...widthPoints("adamw", 1, { δ1: -0.5 + adamwGap, δ2: -0.5, δ3: -1 }, noise),
      ...widthPoints("stable-lora", 1, { δ1: -0.5 + stableGap, δ2: -0.5, δ3: -1 }, noise),
    ]);
  const ok = claimC4(at(0.5, 0, 0.02)).find((c) => c.id === "C4b")!;
  assert.equal(ok.verdict, "supported", ok.reason);
  assert.match(ok.statistic, /^at η ∝ n\^−1: AdamW γ̂δ1 − γ̂δ2 \+0\.5\d/);
  const bad = claimC4(at(-0.5, 0, 0.02)).find((c) => c.id === "C4b")!;
  assert.equal(bad.verdict, "contradicted");
  const unclear = claimC4(at(0.05, 0, 0.02)).find((c) => c.id === "C4b")!;
  assert.equal(unclear.verdict, "inconclusive", unclear.statistic);
  assert.equal(
    claimC4(fitWidthPoints(widthPoints("adamw", 0.5, { δ1: 0, δ2: 0 }, 0.02))).find((c) => c.id === "C4b"),
    undefined,
    "no exponent above ½: no C4b row",
  );
});

function pair(label: string, diffs: number[], pooled = false): PairedComparison {
  return {
    model: pooled ? "all 2 models" : "m",
    rowKey: "stable-lora|x",
    label,
    baselineLabel: "AdamW",
    diffs: diffs.map((diff, seed) => ({ task: "t", seed, diff, runId: "a", baselineRunId: "b" })),
    ci: meanCI(diffs),
    wins: 0,
    losses: 0,
    ...(pooled ? { pooled } : {}),
  };
}

test("C5: paired CI above 0 → supported; below → contradicted; straddling or at chance → inconclusive; paper's gain quoted", () => {
  const none = new Map();
  const c = (diffs: number[], flat: "chance" | null = null, paper?: number) =>
    claimC5({
      pairs: [pair("Stable-LoRA", diffs)],
      uninformative: new Map([["Stable-LoRA", flat]]),
      paperGain: paper === undefined ? none : new Map([["Stable-LoRA", { gain: paper, source: "Table 1" }]]),
    })[0]!;
  assert.equal(c([2, 3, 2.5, 3.1]).verdict, "supported");
  assert.equal(c([-2, -3, -2.5, -3.1]).verdict, "contradicted");
  assert.equal(c([2, -3, 1, -1]).verdict, "inconclusive");
  const chance = c([2, 3, 2.5, 3.1], "chance");
  assert.equal(chance.verdict, "inconclusive", "a difference between accuracies at chance ranks noise");
  assert.match(chance.reason, /is at or below chance: the difference ranks noise/);
  assert.match(c([1, 3, 2, 2.5], null, 2.07).statistic, /paper \+2\.07 pp \(Table 1\), inside our CI/);
  const pooled = claimC5({
    pairs: [pair("Stable-LoRA", [1]), pair("Stable-LoRA", [1, 2, 3], true)],
    uninformative: none,
    paperGain: none,
  })[0]!;
  assert.match(pooled.statistic, /all 2 models, n=3/, "the pooled comparison is preferred");
});

test("C6: overhead below +2% → supported; +10% → contradicted; noisy → inconclusive", () => {
  const c = (pcts: number[]) =>
    claimC6(
      pcts.flatMap((p, seed) => [
        run({ optimizer: "adamw", seed, metrics: [], medianStepSeconds: 0.2 }),
        run({ optimizer: "stable-lora", seed, metrics: [], medianStepSeconds: 0.2 * (1 + p / 100) }),
      ]),
    )!;
  assert.equal(c([0.5, 0.7, 0.4, 0.8]).verdict, "supported");
  assert.equal(c([10, 11, 9, 10.5]).verdict, "contradicted");
  const noisy = c([-4, 6, 1, 3]);
  assert.equal(noisy.verdict, "inconclusive");
  assert.match(noisy.statistic, /\(4 pairs; paper \+0\.6%\)/);
});
