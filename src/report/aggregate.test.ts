// Aggregation across seeds with hand-computed values: cells (mean, sample std, best of seeds, not-done counts),
// the per-seed task average, paired differences against AdamW with the t-based CI, row detection and stability.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_RUN_CONFIG, mergeConfig } from "../config.ts";
import type { RunConfig } from "../config.ts";
import type { EvalRecord, MetricsRecord, RunSummary } from "../results.ts";
import type { LoadedRun, LoadedStatus } from "./load.ts";
import { describeRuns } from "./axes.ts";
import { buildBlocks, makeCell, pairedVsAdamw, pooledPairs, runStability, stabilityRows } from "./aggregate.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

interface FakeOpts {
  model?: string;
  optimizer: RunConfig["optimizer"]["name"];
  task: string;
  seed: number;
  acc?: number;
  status?: LoadedStatus;
  lambda?: number;
  metrics?: MetricsRecord[];
  stability?: RunSummary["stability"];
}

function fakeRun(o: FakeOpts): LoadedRun {
  const config = mergeConfig<RunConfig>(DEFAULT_RUN_CONFIG, {
    ...(o.model ? { model: o.model } : {}),
    task: o.task,
    seed: o.seed,
    optimizer: { name: o.optimizer, ...(o.lambda ? { lambda: o.lambda } : {}) },
  });
  const status = o.status ?? "success";
  const evals: EvalRecord[] =
    o.acc === undefined
      ? []
      : [
          {
            step: 100,
            task: o.task,
            split: "validation",
            n: 100,
            metrics: { "acc,none": o.acc },
            seconds: 1,
            final: true,
          },
        ];
  const summary =
    status === "running" ? null : ({ status, final: {}, stability: o.stability } as unknown as RunSummary);
  const runId = `${o.task}--${o.optimizer}--${o.lambda ?? ""}--s${o.seed}`;
  return {
    runId,
    dir: `/x/${runId}`,
    config,
    summary,
    status,
    error: null,
    evals,
    hiddenSize: null,
    lastWriteMs: 0,
    warnings: [],
    metrics: () => o.metrics ?? [],
    files: [],
  };
}

test("makeCell: mean, sample std, best of seeds", () => {
  const c = makeCell([
    { seed: 0, value: 60, runId: "a" },
    { seed: 1, value: 62, runId: "b" },
    { seed: 2, value: 67, runId: "c" },
  ]);
  assert.equal(c.n, 3);
  close(c.mean, 63, 1e-12, "mean");
  // Σ(x − 63)² = 9 + 1 + 16 = 26; s² = 13.
  close(c.std, Math.sqrt(13), 1e-12, "std");
  assert.equal(c.best, 67);
});

test("blocks: rows by optimizer, columns by task, averages per seed, failed and running counted not zeroed", () => {
  const runs = [
    fakeRun({ optimizer: "adamw", task: "arc_easy", seed: 0, acc: 0.6 }),
    fakeRun({ optimizer: "adamw", task: "arc_easy", seed: 1, acc: 0.62 }),
    fakeRun({ optimizer: "adamw", task: "social_iqa", seed: 0, acc: 0.4 }),
    fakeRun({ optimizer: "adamw", task: "social_iqa", seed: 1, acc: 0.44 }),
    fakeRun({ optimizer: "stable-lora", task: "arc_easy", seed: 0, acc: 0.63 }),
    fakeRun({ optimizer: "stable-lora", task: "arc_easy", seed: 1, acc: 0.64 }),
    fakeRun({ optimizer: "stable-lora", task: "social_iqa", seed: 0, acc: 0.45 }),
    fakeRun({ optimizer: "stable-lora", task: "social_iqa", seed: 1, status: "failed" }),
    fakeRun({ optimizer: "stable-lora", task: "social_iqa", seed: 2, status: "running" }),
  ];
  const axes = describeRuns(runs);
  assert.deepEqual(axes.varying, [], "nothing but optimizer, task and seed varies");
  assert.equal(axes.taskInRow, false, "each run is evaluated on its own task only");
  const [block] = buildBlocks(axes);
  assert.ok(block);
  assert.deepEqual(block.tasks, ["social_iqa", "arc_easy"], "paper order: SocialIQa before ARC-E");
  assert.deepEqual(
    block.rows.map((r) => r.label),
    ["AdamW", "Stable-LoRA"],
  );
  const [adamw, stable] = block.rows as [(typeof block.rows)[0], (typeof block.rows)[0]];
  close(adamw.cells.arc_easy!.mean, 61, 1e-9, "adamw arc_easy mean (percent)");
  close(adamw.cells.arc_easy!.std, Math.SQRT2, 1e-9, "std of [60, 62]");
  // Average per seed: seed 0 (60+40)/2 = 50, seed 1 (62+44)/2 = 53 → 51.5.
  close(adamw.average!.mean, 51.5, 1e-9, "average of per-seed averages");
  close(adamw.bestAverage, (62 + 44) / 2, 1e-9, "mean of per-task bests");
  assert.equal(stable.cells.social_iqa!.n, 1);
  assert.deepEqual(stable.cells.social_iqa!.notDone, { failed: 1, running: 1 });
  // Only seed 0 has both tasks: (63 + 45) / 2 = 54.
  assert.equal(stable.average!.n, 1);
  close(stable.average!.mean, 54, 1e-9, "stable average over complete seeds");

  // Paired vs AdamW: (63−60) + (64−62) + (45−40) = 3, 2, 5 → mean 10/3, s = √(7/3), t(0.975, 2) = 4.302653.
  const [pair] = pairedVsAdamw([block]);
  assert.ok(pair);
  assert.equal(pair.ci.n, 3);
  close(pair.ci.mean, 10 / 3, 1e-9, "mean diff");
  const half = (4.302653 * Math.sqrt(7 / 3)) / Math.sqrt(3);
  close(pair.ci.lo, 10 / 3 - half, 1e-5, "CI low");
  close(pair.ci.hi, 10 / 3 + half, 1e-5, "CI high");
  assert.equal(pair.wins, 3);
  assert.equal(pair.losses, 0);
});

test("varying hyperparameters split rows; optimizer-specific keys do not label other optimizers", () => {
  const runs = [
    fakeRun({ optimizer: "adamw", task: "arc_easy", seed: 0, acc: 0.6 }),
    fakeRun({ optimizer: "stable-lora", task: "arc_easy", seed: 0, acc: 0.61, lambda: 5e-4 }),
    fakeRun({ optimizer: "stable-lora", task: "arc_easy", seed: 0, acc: 0.65, lambda: 2e-3 }),
  ];
  const axes = describeRuns(runs);
  assert.deepEqual(axes.varying, ["optimizer.lambda"]);
  const [block] = buildBlocks(axes);
  assert.deepEqual(
    block!.rows.map((r) => r.label),
    ["AdamW", "Stable-LoRA, λ=5e-4", "Stable-LoRA, λ=2e-3"],
  );
  const pairs = pairedVsAdamw([block!]);
  assert.deepEqual(
    pairs.map((p) => Math.round(p.ci.mean * 100) / 100),
    [1, 5],
    "each λ row is paired with the same AdamW run",
  );
});

test("stability: stop steps from the summary, else first step with ratio < 1; δ1/δ2 at the last probe", () => {
  const mod = (normRatio: number) => ({ normA: 1, normB: 1, normRatio, gradNormA: 0, gradNormB: 0 });
  const metrics = [
    {
      step: 1,
      modules: { "model.layers.0.self_attn.q_proj": mod(3), "model.layers.0.self_attn.v_proj": mod(2) },
      delta: { "model.layers.0.self_attn.q_proj": { d1: 4, d2: 1, d3: 0, dY: 0, identityError: 0 } },
    },
    { step: 2, modules: { "model.layers.0.self_attn.q_proj": mod(2), "model.layers.0.self_attn.v_proj": mod(0.5) } },
    {
      step: 3,
      modules: { "model.layers.0.self_attn.q_proj": mod(1.5), "model.layers.0.self_attn.v_proj": mod(0.4) },
      delta: {
        "model.layers.0.self_attn.q_proj": { d1: 3, d2: 1, d3: 0, dY: 0, identityError: 0 },
        "model.layers.0.self_attn.v_proj": { d1: 1, d2: 1, d3: 0, dY: 0, identityError: 0 },
      },
    },
  ] as unknown as MetricsRecord[];
  const adamw = fakeRun({
    optimizer: "adamw",
    task: "arc_easy",
    seed: 0,
    acc: 0.6,
    metrics,
    stability: { deltaW: { m: { singularValues: [1], spectralNorm: 1, nuclearNorm: 1, effectiveRank: 2 } } },
  });
  const stable = fakeRun({
    optimizer: "stable-lora",
    task: "arc_easy",
    seed: 0,
    acc: 0.6,
    metrics,
    stability: { stopSteps: { "model.layers.0.self_attn.q_proj": 7, "model.layers.0.self_attn.v_proj": null } },
  });
  const axes = describeRuns([adamw, stable]);
  const s = runStability(axes.runs[0]!);
  assert.equal(s.modules, 2);
  assert.equal(s.metCondition, 1, "v_proj crossed below 1 at step 2");
  assert.deepEqual(s.stopSteps, [2]);
  close(s.finalNormRatio, (1.5 + 0.4) / 2, 1e-12, "median of final ratios");
  close(s.deltaRatio, 2, 1e-12, "median of [3, 1]");
  assert.equal(s.effectiveRank, 2);
  const st = runStability(axes.runs[1]!);
  assert.deepEqual(st.stopSteps, [7], "Stable-LoRA's recorded stop steps win");
  const rows = stabilityRows(buildBlocks(axes));
  assert.deepEqual(
    rows.map((r) => [r.label, r.fractionMet, r.medianStopStep]),
    [
      ["AdamW", 0.5, 2],
      ["Stable-LoRA", 0.5, 7],
    ],
  );
});

test("stability: a null ratio (B = 0 at step 1, written as null in JSON) is not 'below 1'", () => {
  const mod = (normRatio: number | null) => ({
    normA: 1,
    normB: normRatio === null ? 0 : 1,
    normRatio,
    gradNormA: 0,
    gradNormB: 0,
  });
  const metrics = [
    {
      step: 1,
      modules: { "model.layers.0.self_attn.q_proj": mod(null), "model.layers.0.self_attn.v_proj": mod(null) },
    },
    { step: 2, modules: { "model.layers.0.self_attn.q_proj": mod(12), "model.layers.0.self_attn.v_proj": mod(0.9) } },
  ] as unknown as MetricsRecord[];
  const axes = describeRuns([fakeRun({ optimizer: "adamw", task: "arc_easy", seed: 0, acc: 0.6, metrics })]);
  const s = runStability(axes.runs[0]!);
  assert.equal(s.metCondition, 1, "only v_proj, at step 2");
  assert.deepEqual(s.stopSteps, [2]);
});

test("pooledPairs: one row per optimizer setting over models, pairs concatenated; none for one model", () => {
  const runs = ["random:d=256", "random:d=64", "random:d=128"].flatMap((model, i) => [
    { ...fakeRun({ model, optimizer: "adamw", task: "arc_easy", seed: 0, acc: 0.6 }), runId: `a${i}` },
    {
      ...fakeRun({ model, optimizer: "stable-lora", task: "arc_easy", seed: 0, acc: 0.6 + [0.021, 0.011, 0.032][i]! }),
      runId: `s${i}`,
    },
  ]);
  const axes = describeRuns(runs);
  assert.deepEqual(axes.models, ["random:d=64", "random:d=128", "random:d=256"], "models in natural order");
  const pairs = pairedVsAdamw(buildBlocks(axes));
  assert.equal(pairs.length, 3);
  const [pooled] = pooledPairs(pairs);
  assert.ok(pooled);
  assert.equal(pooled.model, "all 3 models");
  assert.equal(pooled.pooled, true);
  // Diffs 1.1, 3.2, 2.1 → mean 6.4/3; s² = ((1.1−m)² + (3.2−m)² + (2.1−m)²)/2.
  assert.equal(pooled.ci.n, 3);
  close(pooled.ci.mean, 6.4 / 3, 1e-9, "pooled mean");
  const m = 6.4 / 3;
  const s = Math.sqrt(((1.1 - m) ** 2 + (3.2 - m) ** 2 + (2.1 - m) ** 2) / 2);
  close(pooled.ci.hi - pooled.ci.mean, (4.302653 * s) / Math.sqrt(3), 1e-5, "half-width with t(0.975, 2)");
  assert.deepEqual(pooledPairs(pairs.slice(0, 1)), [], "a single model has nothing to pool");
});
