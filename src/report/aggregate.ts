// Aggregation across seeds for the report: accuracy cells (mean ± sample std, n, best of seeds, failed/running
// counts), paired differences against AdamW with a t-based 95% CI, per-optimizer stability summaries (Stable-LoRA's
// condition ‖A‖/n < ‖B‖/m, stop steps, δ1/δ2, ΔW effective rank) and the overhead table (step time, peak RSS).
import type { RunAxes, ExperimentAxes } from "./axes.ts";
import { compareRowKeys, optimizerRank } from "./axes.ts";
import type { LoadedStatus } from "./load.ts";
import { geometricMean, mean, meanCI, median, sampleStd } from "./stats.ts";
import type { MeanCI } from "./stats.ts";
import { chanceRate, finalDocs } from "./chance.ts";
import type { ChanceRate } from "./chance.ts";

/** Preferred lm-eval metric per task: the paper reports accuracy; GSM8K uses exact match (strict first). */
export const METRIC_PREFERENCE = [
  "acc,none",
  "exact_match,strict-match",
  "exact_match,flexible-extract",
  "exact_match,none",
  "acc_norm,none",
];

/** The metric shown for a task: the first preferred key any run reports, else the first non-stderr key. */
export function primaryMetric(runs: readonly RunAxes[], task: string): string | null {
  const keys = new Set<string>();
  for (const r of runs) {
    for (const e of r.run.evals) if (e.task === task) Object.keys(e.metrics).forEach((k) => keys.add(k));
    Object.keys(r.run.summary?.final?.[task] ?? {}).forEach((k) => keys.add(k));
  }
  return METRIC_PREFERENCE.find((k) => keys.has(k)) ?? [...keys].sort().find((k) => !k.includes("stderr")) ?? null;
}

/** Proportions (acc, exact_match) are shown in percent, like the paper. */
export function displayScale(metric: string): number {
  return /^(acc|exact_match|f1|mcc)/.test(metric) ? 100 : 1;
}

/** A run's final value of `metric` on `task` (in display units), or null: last final eval record, else summary.final. */
export function finalValue(r: RunAxes, task: string, metric: string): number | null {
  const finals = r.run.evals.filter((e) => e.task === task && e.final && Number.isFinite(e.metrics[metric]));
  const last = finals.length ? finals[finals.length - 1]!.metrics[metric]! : r.run.summary?.final?.[task]?.[metric];
  return typeof last === "number" && Number.isFinite(last) ? last * displayScale(metric) : null;
}

export interface SeedValue {
  seed: number;
  value: number;
  runId: string;
}

export interface Cell {
  /** Values of successful runs, one per seed (a seed appearing twice keeps its latest run). */
  values: SeedValue[];
  n: number;
  mean: number;
  /** Sample std (NaN for n < 2). */
  std: number;
  /** Best of seeds (max; every shown metric is higher-is-better). */
  best: number;
  /** Runs in this cell that did not produce a value, by status ("failed", "diverged", "interrupted", "running", …). */
  notDone: Partial<Record<LoadedStatus | "no value", number>>;
  /** Evaluation documents behind each value (the fewest over the cell's runs), for the binomial interval; null if unknown. */
  docs: number | null;
}

export function makeCell(values: SeedValue[], notDone: Cell["notDone"] = {}, docs: number | null = null): Cell {
  const xs = values.map((v) => v.value);
  return {
    values,
    n: xs.length,
    mean: mean(xs),
    std: sampleStd(xs),
    best: xs.length ? Math.max(...xs) : NaN,
    notDone,
    docs,
  };
}

export interface TableRow {
  rowKey: string;
  label: string;
  optimizer: string;
  /** Varying settings of this row (for CSV and paper matching). */
  setting: Record<string, string>;
  runs: RunAxes[];
  /** Per evaluation task. */
  cells: Record<string, Cell>;
  /** Average over the block's tasks, per seed, over seeds that have every task. */
  average: Cell | null;
  /** Mean over tasks of the per-task best of seeds (the paper's "best of 3" per task, then averaged). */
  bestAverage: number;
}

export interface Block {
  model: string;
  tasks: string[];
  /** Metric shown per task. */
  metrics: Record<string, string>;
  rows: TableRow[];
  /** Training tasks of the runs in the block. */
  trainTasks: string[];
  /** Chance rate per evaluation task (chance.ts), for the [chance] marks. */
  chance: Record<string, ChanceRate>;
}

/** One block per model: rows = optimizer (+ varying hyperparameters), columns = evaluation tasks. */
export function buildBlocks(axes: ExperimentAxes): Block[] {
  const blocks: Block[] = [];
  for (const model of axes.models) {
    const runs = axes.runs.filter((r) => r.model === model);
    const tasks = axes.evalTasks.filter((t) => runs.some((r) => r.evalTasks.includes(t)));
    const metrics: Record<string, string> = {};
    for (const t of tasks) metrics[t] = primaryMetric(runs, t) ?? "acc,none";
    const rowKeys = [...new Set(runs.map((r) => r.rowKey))].sort(
      (a, b) => optimizerRank(a.split("|")[0]!) - optimizerRank(b.split("|")[0]!) || compareRowKeys(a, b),
    );
    const rows = rowKeys.map((rowKey) => {
      const rr = runs.filter((r) => r.rowKey === rowKey);
      const cells: Record<string, Cell> = {};
      for (const t of tasks)
        cells[t] = cellFor(
          rr.filter((r) => r.evalTasks.includes(t)),
          t,
          metrics[t]!,
        );
      return {
        rowKey,
        label: rr[0]!.rowLabel,
        optimizer: rr[0]!.optimizer,
        setting: rr[0]!.setting,
        runs: rr,
        cells,
        average: averageCell(cells, tasks),
        bestAverage: tasks.length && tasks.every((t) => cells[t]!.n > 0) ? mean(tasks.map((t) => cells[t]!.best)) : NaN,
      };
    });
    const chance: Record<string, ChanceRate> = {};
    for (const t of tasks)
      chance[t] = chanceRate(
        t,
        runs.filter((r) => r.evalTasks.includes(t)),
      );
    blocks.push({ model, tasks, metrics, rows, trainTasks: [...new Set(runs.map((r) => r.task))], chance });
  }
  return blocks;
}

function cellFor(runs: RunAxes[], task: string, metric: string): Cell {
  const bySeed = new Map<number, SeedValue>();
  const notDone: Cell["notDone"] = {};
  const docs: number[] = [];
  for (const r of runs) {
    const v = r.run.status === "success" ? finalValue(r, task, metric) : null;
    if (v === null) {
      const why = r.run.status === "success" ? "no value" : r.run.status;
      notDone[why] = (notDone[why] ?? 0) + 1;
      continue;
    }
    bySeed.set(r.seed, { seed: r.seed, value: v, runId: r.run.runId });
    const n = finalDocs(r, task);
    if (n !== null) docs.push(n);
  }
  return makeCell(
    [...bySeed.values()].sort((a, b) => a.seed - b.seed),
    notDone,
    docs.length ? Math.min(...docs) : null,
  );
}

/** Per seed: the mean over tasks, for seeds that have a value on every task. */
export function averageCell(cells: Record<string, Cell>, tasks: string[]): Cell | null {
  if (tasks.length < 2) return null;
  const seeds = new Set(cells[tasks[0]!]?.values.map((v) => v.seed) ?? []);
  const values: SeedValue[] = [];
  for (const seed of [...seeds].sort((a, b) => a - b)) {
    const vs = tasks.map((t) => cells[t]!.values.find((v) => v.seed === seed)?.value);
    if (vs.every((v) => v !== undefined)) values.push({ seed, value: mean(vs as number[]), runId: "" });
  }
  return makeCell(values);
}

// ---------------------------------------------------------------------------------------------------------------
// Paired differences against AdamW

export interface PairedDiff {
  task: string;
  seed: number;
  diff: number;
  runId: string;
  baselineRunId: string;
}

export interface PairedComparison {
  model: string;
  rowKey: string;
  label: string;
  baselineLabel: string;
  diffs: PairedDiff[];
  ci: MeanCI;
  wins: number;
  losses: number;
  /** True for a row pooled over models (pooledPairs). */
  pooled?: boolean;
}

/**
 * Each non-AdamW row against AdamW, matched on everything but the optimizer and its hyperparameters (model, varying
 * non-optimizer settings, evaluation task, seed). Where several AdamW rows match (e.g. an lr grid), the one with the
 * best mean average is the baseline. Differences are in display units (percentage points for accuracy).
 */
export function pairedVsAdamw(blocks: readonly Block[], level = 0.95): PairedComparison[] {
  const out: PairedComparison[] = [];
  for (const block of blocks) {
    const baselines = block.rows.filter((r) => r.optimizer === "adamw");
    if (!baselines.length) continue;
    for (const row of block.rows) {
      if (row.optimizer === "adamw") continue;
      const matchKey = row.runs[0]!.matchKey;
      const candidates = baselines.filter((b) => b.runs[0]!.matchKey === matchKey);
      if (!candidates.length) continue;
      const base = [...candidates].sort((a, b) => rowScore(b) - rowScore(a))[0]!;
      const diffs: PairedDiff[] = [];
      for (const task of block.tasks) {
        for (const v of row.cells[task]!.values) {
          const b = base.cells[task]!.values.find((x) => x.seed === v.seed);
          if (b) diffs.push({ task, seed: v.seed, diff: v.value - b.value, runId: v.runId, baselineRunId: b.runId });
        }
      }
      const ds = diffs.map((d) => d.diff);
      out.push({
        model: block.model,
        rowKey: row.rowKey,
        label: row.label,
        baselineLabel: base.label,
        diffs,
        ci: meanCI(ds, level),
        wins: ds.filter((d) => d > 0).length,
        losses: ds.filter((d) => d < 0).length,
      });
    }
  }
  return out;
}

/**
 * The same optimizer row pooled over every model that has it (pairs = models × tasks × seeds), for experiments with
 * two or more models: a width or model study asks whether the difference holds across models, and one seed per
 * model gives no CI on its own. model = "all N models".
 */
export function pooledPairs(pairs: readonly PairedComparison[], level = 0.95): PairedComparison[] {
  const models = new Set(pairs.map((p) => p.model));
  if (models.size < 2) return [];
  const byRow = new Map<string, PairedComparison[]>();
  for (const p of pairs) {
    if (!byRow.has(p.rowKey)) byRow.set(p.rowKey, []);
    byRow.get(p.rowKey)!.push(p);
  }
  const out: PairedComparison[] = [];
  for (const [rowKey, ps] of byRow) {
    if (ps.length < 2) continue;
    const diffs = ps.flatMap((p) => p.diffs);
    const ds = diffs.map((d) => d.diff);
    out.push({
      model: `all ${ps.length} models`,
      rowKey,
      label: ps[0]!.label,
      baselineLabel: [...new Set(ps.map((p) => p.baselineLabel))].join(" / "),
      diffs,
      ci: meanCI(ds, level),
      wins: ds.filter((d) => d > 0).length,
      losses: ds.filter((d) => d < 0).length,
      pooled: true,
    });
  }
  return out;
}

function rowScore(r: TableRow): number {
  const m = r.average ? r.average.mean : mean(Object.values(r.cells).map((c) => c.mean));
  return Number.isFinite(m) ? m : -Infinity;
}

// ---------------------------------------------------------------------------------------------------------------
// Stability summary

export interface RunStability {
  runId: string;
  modules: number;
  /** Modules that met ‖A‖/n < ‖B‖/m at some logged step (Stable-LoRA: those with a stop step). */
  metCondition: number;
  /** Stop steps of the modules that stopped (Stable-LoRA's own record; otherwise the first step with ratio < 1). */
  stopSteps: number[];
  /** Median over modules of the final (‖A‖/n)/(‖B‖/m). */
  finalNormRatio: number;
  /** Median over modules of rms(δ1)/rms(δ2) at the last probe step. */
  deltaRatio: number;
  /** Mean over modules of ΔW's effective rank. */
  effectiveRank: number;
}

export function runStability(r: RunAxes): RunStability {
  const st = r.run.summary?.stability;
  const metrics = r.run.metrics();
  const last = metrics.length ? metrics[metrics.length - 1]! : null;
  const names = new Set<string>([
    ...Object.keys(last?.modules ?? {}),
    ...Object.keys(st?.finalNormRatio ?? {}),
    ...Object.keys(st?.stopSteps ?? {}),
  ]);

  let stopSteps: number[];
  let met: number;
  if (st?.stopSteps && Object.keys(st.stopSteps).length) {
    const s = Object.values(st.stopSteps).filter((x): x is number => typeof x === "number");
    stopSteps = s;
    met = s.length;
  } else {
    const first = new Map<string, number>();
    for (const m of metrics) {
      for (const [name, sig] of Object.entries(m.modules ?? {})) {
        // normRatio is null while B = 0 (step 1 of AdamW & co.); null < 1 is true in JS, so test the type first.
        const below = typeof sig.normRatio === "number" && Number.isFinite(sig.normRatio) && sig.normRatio < 1;
        if (!first.has(name) && (typeof sig.stopStep === "number" || below))
          first.set(name, typeof sig.stopStep === "number" ? sig.stopStep : m.step);
      }
    }
    stopSteps = [...first.values()];
    met = first.size;
  }

  const finalRatios =
    st?.finalNormRatio && Object.keys(st.finalNormRatio).length
      ? Object.values(st.finalNormRatio)
      : Object.values(last?.modules ?? {}).map((s) => s.normRatio);

  let deltaRatio = NaN;
  for (let i = metrics.length - 1; i >= 0; i--) {
    const d = metrics[i]!.delta;
    if (d && Object.keys(d).length) {
      deltaRatio = median(
        Object.values(d)
          .filter((x) => x.d2 > 0)
          .map((x) => x.d1 / x.d2),
      );
      break;
    }
  }
  const ranks = Object.values(st?.deltaW ?? {})
    .map((s) => s.effectiveRank)
    .filter(Number.isFinite);
  return {
    runId: r.run.runId,
    modules: names.size,
    metCondition: met,
    stopSteps,
    finalNormRatio: median(finalRatios.filter((x): x is number => Number.isFinite(x))),
    deltaRatio,
    effectiveRank: ranks.length ? mean(ranks) : NaN,
  };
}

export interface StabilityRow {
  model: string;
  rowKey: string;
  label: string;
  optimizer: string;
  runs: number;
  /** Modules over all runs, and how many met the condition (fractionMet = met / modules). */
  modules: number;
  met: number;
  /** Every stop step of every run (medianStopStep is their median). */
  stopSteps: number[];
  /** Over all modules of all runs. */
  fractionMet: number;
  medianStopStep: number;
  finalNormRatio: number;
  deltaRatio: number;
  effectiveRank: number;
}

/** Per block row: pooled over its runs that logged anything (success or not; a diverged run's signals matter too). */
export function stabilityRows(blocks: readonly Block[]): StabilityRow[] {
  const out: StabilityRow[] = [];
  for (const b of blocks) {
    for (const row of b.rows) {
      const rs = row.runs
        .filter((r) => r.run.status !== "invalid")
        .map(runStability)
        .filter((s) => s.modules > 0);
      if (!rs.length) continue;
      const modules = rs.reduce((a, s) => a + s.modules, 0);
      const met = rs.reduce((a, s) => a + s.metCondition, 0);
      const stopSteps = rs.flatMap((s) => s.stopSteps);
      out.push({
        model: b.model,
        rowKey: row.rowKey,
        label: row.label,
        optimizer: row.optimizer,
        runs: rs.length,
        modules,
        met,
        stopSteps,
        fractionMet: modules ? met / modules : NaN,
        medianStopStep: median(stopSteps),
        finalNormRatio: median(rs.map((s) => s.finalNormRatio).filter(Number.isFinite)),
        deltaRatio: geometricMean(rs.map((s) => s.deltaRatio)),
        effectiveRank: mean(rs.map((s) => s.effectiveRank).filter(Number.isFinite)),
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Overhead

export interface OverheadRow {
  model: string;
  rowKey: string;
  label: string;
  optimizer: string;
  runs: number;
  /** Mean over runs of each run's median seconds per optimizer step. */
  stepSeconds: number;
  peakRssMB: number;
  /** Relative to the matching AdamW row, in percent (+8.3 = 8.3% slower); NaN without a baseline. */
  stepTimePct: number;
  peakRssPct: number;
}

/** Median step time (summary.medianStepSeconds, else the median of metrics.jsonl's stepSeconds) and peak RSS. */
export function overheadRows(blocks: readonly Block[]): OverheadRow[] {
  const out: OverheadRow[] = [];
  for (const b of blocks) {
    const raw = b.rows
      .map((row) => {
        const done = row.runs.filter((r) => r.run.status === "success");
        const times = done.map(
          (r) =>
            r.run.summary?.medianStepSeconds ??
            median(
              r.run
                .metrics()
                .map((m) => m.stepSeconds)
                .filter(Number.isFinite),
            ),
        );
        const rss = done.map((r) => r.run.summary?.peakRssMB ?? NaN);
        return {
          row,
          n: done.length,
          stepSeconds: mean(times.filter(Number.isFinite)),
          peakRssMB: mean(rss.filter(Number.isFinite)),
        };
      })
      .filter((x) => x.n > 0);
    for (const x of raw) {
      const base = raw.find((y) => y.row.optimizer === "adamw" && y.row.runs[0]!.matchKey === x.row.runs[0]!.matchKey);
      out.push({
        model: b.model,
        rowKey: x.row.rowKey,
        label: x.row.label,
        optimizer: x.row.optimizer,
        runs: x.n,
        stepSeconds: x.stepSeconds,
        peakRssMB: x.peakRssMB,
        stepTimePct: base ? (x.stepSeconds / base.stepSeconds - 1) * 100 : NaN,
        peakRssPct: base ? (x.peakRssMB / base.peakRssMB - 1) * 100 : NaN,
      });
    }
  }
  return out;
}
