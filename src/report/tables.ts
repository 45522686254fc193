// The report's tables as data (a header, rows of cells, footnotes, machine-readable CSV records) and their three
// renderings: Markdown, CSV (csv-stringify) and HTML. Layout follows the paper: one block per model, rows =
// optimizers, columns = tasks + average; mean ± std (n) and, clearly labelled, best of seeds; paper number and Δ.
import { stringify } from "csv-stringify/sync";
import type { Block, Cell, OverheadRow, PairedComparison, StabilityRow, TableRow } from "./aggregate.ts";
import { displayScale, finalValue } from "./aggregate.ts";
import { flagAccuracy, noSkill } from "./chance.ts";
import type { AccuracyFlag, ChanceRate } from "./chance.ts";
import { THRESHOLDS } from "./claims-thresholds.ts";
import type { ExperimentAxes, RunAxes } from "./axes.ts";
import { OPTIMIZER_LABELS, compareRowKeys, naturalCompare, optimizerRank } from "./axes.ts";
import type { WidthFit } from "./series.ts";
import type { LoadedRun } from "./load.ts";
import { paperGsm8k, paperOverhead, paperQaAverage } from "./paper.ts";
import type { PaperValue, QaSetting } from "./paper.ts";
import { QA_TASKS } from "./axes.ts";
import { modelSlug } from "../sweep.ts";

export interface TableCell {
  text: string;
  bold?: boolean;
  /** CSS class in HTML: "missing", "failed", "running", "num", "pos", "neg". */
  kind?: string;
  /** Link target (relative), HTML and Markdown. */
  href?: string;
}

export interface ReportTable {
  /** File stem under tables/, e.g. "accuracy-mean--qwen2-0.5b". */
  id: string;
  title: string;
  header: string[];
  rows: TableCell[][];
  notes: string[];
  /** Long-form records for the CSV (numbers unformatted). */
  csv: Record<string, string | number | null>[];
}

export const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "—");
export const signed = (x: number, digits = 2) =>
  Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(digits)}` : "—";
const num = (x: number): number | null => (Number.isFinite(x) ? Number(x.toPrecision(10)) : null);

/** The run ids' model name (src/sweep.ts modelSlug) safe for file names: "Qwen/Qwen2-0.5B" → "qwen2-0.5b". */
export function slug(s: string): string {
  return modelSlug(s).replace(/[=,]+/g, "-").slice(0, 60);
}

/** "3 failed, 1 running" from a cell's not-done counts. */
function notDoneText(c: Cell): string {
  return Object.entries(c.notDone)
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");
}

function statusKind(c: Cell): string {
  if (c.notDone.failed || c.notDone.diverged || c.notDone.interrupted) return "failed";
  if (c.notDone.running) return "running";
  return "missing";
}

const flagText = (flags: readonly AccuracyFlag[]) => flags.map((f) => ` [${f}]`).join("");

function meanCellText(c: Cell, flags: readonly AccuracyFlag[] = []): TableCell {
  if (c.n === 0) return { text: notDoneText(c) || "—", kind: statusKind(c) };
  const core = c.n >= 2 ? `${fmt(c.mean)} ± ${fmt(c.std)} (${c.n})` : `${fmt(c.mean)} (${c.n})`;
  const extra = notDoneText(c);
  return { text: `${extra ? `${core}; ${extra}` : core}${flagText(flags)}`, kind: "num" };
}

function bestCellText(c: Cell, flags: readonly AccuracyFlag[] = []): TableCell {
  if (c.n === 0) return { text: notDoneText(c) || "—", kind: statusKind(c) };
  const extra = notDoneText(c);
  return { text: `${fmt(c.best)} (of ${c.n})${extra ? `; ${extra}` : ""}${flagText(flags)}`, kind: "num" };
}

/** [chance] / [ceiling] marks of a cell's shown value (mean or best of seeds); none for non-proportion metrics. */
export function cellFlags(
  c: Cell | undefined,
  metric: string,
  chance: ChanceRate | undefined,
  kind: "mean" | "best",
): AccuracyFlag[] {
  if (!c || c.n === 0 || c.docs === null || displayScale(metric) !== 100) return [];
  return flagAccuracy((kind === "mean" ? c.mean : c.best) / 100, c.docs, chance?.rate ?? null).flags;
}

/** The notes and title suffix that explain a table's marks: all cells at chance = the table ranks noise. */
function flagNotes(
  flagged: AccuracyFlag[][],
  chance: Record<string, ChanceRate | undefined>,
): { notes: string[]; titleSuffix: string } {
  const notes: string[] = [];
  const rates = Object.entries(chance)
    .filter(([, c]) => c && c.rate !== null)
    .map(([t, c]) => `${t} ${(100 * c!.rate!).toFixed(1)}%${c!.source === "usual" ? " (usual choice count)" : ""}`);
  const ceiling = (100 * THRESHOLDS.ceiling.value).toFixed(0);
  notes.push(
    `[chance]: the cell's 95% Wilson interval (n = evaluated documents of one run) contains the chance rate 1/choices${rates.length ? ` (${rates.join(", ")})` : ""}; ` +
      `[below chance]: the interval lies below it; [ceiling]: the interval reaches ${ceiling}%. Marked cells cannot rank optimizers.`,
  );
  const allChance = flagged.length > 0 && flagged.every(noSkill);
  const allCeiling = flagged.length > 0 && flagged.every((f) => f.includes("ceiling"));
  const titleSuffix = allChance
    ? " — every cell is at or below chance: this table ranks noise"
    : allCeiling
      ? " — every cell is at the ceiling: this table compares nothing"
      : "";
  return { notes, titleSuffix };
}

/** How the block's runs were trained for QA (decides which paper table applies). */
export function qaSetting(block: Block): QaSetting {
  const runs = block.rows.flatMap((r) => r.runs);
  if (runs.every((r) => r.evalTasks.length === 1 && r.evalTasks[0] === r.task)) return "per-task";
  if (runs.every((r) => !QA_TASKS.includes(r.task) && QA_TASKS.every((t) => r.evalTasks.includes(t)))) return "merged";
  return "other";
}

/** The paper's number for a row and which column it compares to, or null. */
export function paperFor(block: Block, row: TableRow): (PaperValue & { column: string }) | null {
  const c = row.runs[0]!.config;
  const steps = new Set(row.runs.map((r) => r.config.train.steps));
  const q = {
    model: block.model,
    optimizer: row.optimizer,
    targets: c.lora.targets.join(","),
    stopCondition: c.optimizer.name !== "stable-lora" || c.optimizer.stopCondition,
    steps: steps.size === 1 ? [...steps][0]! : null,
    evalTasks: block.tasks,
    setting: qaSetting(block),
  };
  const qa = paperQaAverage(q);
  if (qa) return { ...qa, column: "average" };
  if (block.tasks.includes("gsm8k")) {
    const g = paperGsm8k(q);
    if (g) return { ...g, column: "gsm8k" };
  }
  return null;
}

/** Mark the best value of each numeric column in bold (ties all bold). */
function markBest(rows: TableCell[][], values: number[][]): void {
  const cols = values[0]?.length ?? 0;
  for (let j = 0; j < cols; j++) {
    const colVals = values.map((v) => v[j]!).filter(Number.isFinite);
    if (colVals.length < 2) continue;
    const best = Math.max(...colVals);
    values.forEach((v, i) => {
      if (v[j] === best) rows[i]![j + 1]!.bold = true;
    });
  }
}

/**
 * The one evaluation task every model block shares when each block has exactly that task (a width or model study,
 * e.g. quickstart), else null. Then the accuracy tables are compact: rows = optimizers, columns = models.
 */
export function sharedSingleTask(blocks: readonly Block[]): string | null {
  const withTasks = blocks.filter((b) => b.tasks.length);
  if (withTasks.length < 2) return null;
  const t = withTasks[0]!.tasks[0]!;
  return withTasks.every((b) => b.tasks.length === 1 && b.tasks[0] === t && b.metrics[t] === withTasks[0]!.metrics[t])
    ? t
    : null;
}

/** What an accuracy cell shows, per table kind. */
const CELLS_NOTE = {
  mean: "Cells: mean ± sample std over seeds (n successful seeds). Failed, diverged and running runs are counted beside the value, never as zero.",
  best: "Cells: best of seeds (max over successful seeds; the paper reports the best of 3).",
} as const;

/** The paper's sources for the numbers a table shows, as a note (none when it shows none). */
function paperNote(papers: readonly (ReturnType<typeof paperFor> | undefined)[]): string[] {
  const sources = [...new Set(papers.flatMap((p) => (p ? [p.source] : [])))];
  return sources.length ? [`Paper: ${sources.join("; ")}. Δ in percentage points (ours − paper).`] : [];
}

/** The CSV records of one accuracy row: one per task, the average, and the paper's value where it has one. */
function accuracyCsvRows(
  block: Block,
  row: Block["rows"][number],
  flags: AccuracyFlag[][],
  avgValue: number,
  shown: number[],
  p: ReturnType<typeof paperFor> | undefined,
): ReportTable["csv"] {
  const out: ReportTable["csv"] = [];
  const cells = block.tasks.map((t) => row.cells[t]!);
  const avg = row.average;
  const hasAvg = block.tasks.length >= 2;
  for (const [j, t] of block.tasks.entries()) {
    const c = cells[j]!;
    out.push({
      model: block.model,
      row: row.label,
      optimizer: row.optimizer,
      ...row.setting,
      task: t,
      metric: block.metrics[t]!,
      mean: num(c.mean),
      std: num(c.std),
      n: c.n,
      best: num(c.best),
      not_done: notDoneText(c) || null,
      paper: null,
      delta: null,
      docs: c.docs,
      flags: flags[j]!.join(",") || null,
    });
  }
  if (hasAvg) {
    out.push({
      model: block.model,
      row: row.label,
      optimizer: row.optimizer,
      ...row.setting,
      task: "average",
      metric: "mean over tasks",
      mean: num(avg?.mean ?? NaN),
      std: num(avg?.std ?? NaN),
      n: avg?.n ?? 0,
      best: num(row.bestAverage),
      not_done: null,
      paper: p?.column === "average" ? p.value : null,
      delta: p?.column === "average" ? num(avgValue - p.value) : null,
    });
  }
  if (p && p.column !== "average") {
    const rec = out.find((r) => r.row === row.label && r.task === p.column);
    if (rec) {
      rec.paper = p.value;
      rec.delta = num(shown[block.tasks.indexOf(p.column)]! - p.value);
    }
  }
  return out;
}

/**
 * Accuracy tables: mean ± std (n seeds), and best of seeds (the paper's convention). Two tables per model block
 * (rows = optimizers, columns = tasks + average), or, when every model has the same single task, two tables in all
 * with one column per model (see sharedSingleTask).
 */
export function accuracyTables(blocks: readonly Block[]): ReportTable[] {
  const shared = sharedSingleTask(blocks);
  if (shared)
    return compactAccuracyTables(
      blocks.filter((b) => b.tasks.length),
      shared,
    );
  const tables: ReportTable[] = [];
  for (const block of blocks) {
    if (!block.tasks.length) continue;
    const hasAvg = block.tasks.length >= 2;
    const papers = block.rows.map((r) => paperFor(block, r));
    const hasPaper = papers.some(Boolean);
    const metricNote = block.tasks.map((t) => `${t}: \`${block.metrics[t]}\``).join(", ");
    for (const kind of ["mean", "best"] as const) {
      const header = [
        "optimizer",
        ...block.tasks,
        ...(hasAvg ? ["average"] : []),
        ...(hasPaper ? ["paper", kind === "mean" ? "Δ mean − paper" : "Δ best − paper"] : []),
      ];
      const rows: TableCell[][] = [];
      const values: number[][] = [];
      const csv: ReportTable["csv"] = [];
      const flagged: AccuracyFlag[][] = [];
      block.rows.forEach((row, i) => {
        const cells = block.tasks.map((t) => row.cells[t]!);
        const avg = row.average;
        const shown = cells.map((c) => (kind === "mean" ? c.mean : c.best));
        const avgValue = kind === "mean" ? (avg?.mean ?? NaN) : row.bestAverage;
        const line: TableCell[] = [{ text: row.label }];
        const flags = block.tasks.map((t) => cellFlags(row.cells[t], block.metrics[t]!, block.chance[t], kind));
        cells.forEach((c, j) => {
          if (c.n > 0 && c.docs !== null) flagged.push(flags[j]!);
        });
        line.push(...cells.map((c, j) => (kind === "mean" ? meanCellText(c, flags[j]) : bestCellText(c, flags[j]))));
        if (hasAvg) {
          if (kind === "mean") line.push(avg && avg.n ? meanCellText(avg) : { text: "incomplete", kind: "missing" });
          else
            line.push(
              Number.isFinite(avgValue)
                ? { text: fmt(avgValue), kind: "num" }
                : { text: "incomplete", kind: "missing" },
            );
        }
        const p = papers[i];
        if (hasPaper) {
          if (p) {
            const ours = p.column === "average" ? avgValue : shown[block.tasks.indexOf(p.column)]!;
            const d = ours - p.value;
            line.push(
              { text: fmt(p.value), kind: "num" },
              { text: signed(d), kind: Number.isFinite(d) ? (d >= 0 ? "pos" : "neg") : "missing" },
            );
          } else line.push({ text: "—", kind: "missing" }, { text: "—", kind: "missing" });
        }
        rows.push(line);
        values.push([...shown, ...(hasAvg ? [avgValue] : [])]);
        csv.push(...accuracyCsvRows(block, row, flags, avgValue, shown, p));
      });
      markBest(rows, values);
      const marks = flagNotes(flagged, block.chance);
      const notes = [
        kind === "mean" ? CELLS_NOTE.mean : `${CELLS_NOTE.best} Average = mean over tasks of the per-task best.`,
        `Metric (in %): ${metricNote}. Bold = best in the column.`,
        ...marks.notes,
        ...paperNote(papers),
      ];
      tables.push({
        id: `accuracy-${kind}--${slug(block.model)}`,
        title: `${block.model}: ${kind === "mean" ? "mean ± std over seeds" : "best of seeds"}${marks.titleSuffix}`,
        header,
        rows,
        notes,
        csv,
      });
    }
  }
  return tables;
}

/** Bold the best value of each model's column (value columns are 1 apart, or 3 where paper columns follow). */
function markBestPerModel(rows: TableCell[][], values: number[][], hasPaper: readonly boolean[]): void {
  const valueCol = hasPaper.map((_, j) => 1 + hasPaper.slice(0, j).reduce((a, h) => a + (h ? 3 : 1), 0));
  hasPaper.forEach((_, j) => {
    const col = values.map((v) => v[j]!);
    const fin = col.filter(Number.isFinite);
    if (fin.length < 2) return;
    const best = Math.max(...fin);
    col.forEach((v, i) => {
      if (v === best) rows[i]![valueCol[j]!]!.bold = true;
    });
  });
}

/** One CSV record of the one-task table: a model's cell for one row. */
function compactCsvRecord(
  model: string,
  row: TableRow,
  task: string,
  metric: string,
  c: NonNullable<TableRow["cells"][string]>,
  p: ReturnType<typeof paperFor> | undefined,
  shown: number,
  flags: readonly AccuracyFlag[],
): ReportTable["csv"][number] {
  return {
    model,
    row: row.label,
    optimizer: row.optimizer,
    ...row.setting,
    task,
    metric,
    mean: num(c.mean),
    std: num(c.std),
    n: c.n,
    best: num(c.best),
    not_done: notDoneText(c) || null,
    paper: p?.value ?? null,
    delta: p ? num(shown - p.value) : null,
    docs: c.docs,
    flags: flags.join(",") || null,
  };
}

/** One table per statistic for a model study: rows = optimizer rows (same row key across models), columns = models. */
function compactAccuracyTables(blocks: readonly Block[], task: string): ReportTable[] {
  const metric = blocks[0]!.metrics[task]!;
  // Row keys never contain the model, so the same optimizer setting lines up across blocks.
  const firstRow = new Map<string, TableRow>();
  for (const b of blocks) for (const r of b.rows) if (!firstRow.has(r.rowKey)) firstRow.set(r.rowKey, r);
  const rowKeys = [...firstRow.keys()].sort(
    (a, b) =>
      optimizerRank(firstRow.get(a)!.optimizer) - optimizerRank(firstRow.get(b)!.optimizer) || compareRowKeys(a, b),
  );
  const papers = blocks.map((b) =>
    rowKeys.map((k) => {
      const row = b.rows.find((r) => r.rowKey === k);
      const p = row ? paperFor(b, row) : null;
      return p && p.column === task ? p : null;
    }),
  );
  const hasPaper = papers.map((ps) => ps.some(Boolean));
  const tables: ReportTable[] = [];
  for (const kind of ["mean", "best"] as const) {
    const header = [
      "optimizer",
      ...blocks.flatMap((b, j) => [b.model, ...(hasPaper[j] ? [`paper (${b.model})`, "Δ − paper"] : [])]),
    ];
    const rows: TableCell[][] = [];
    const values: number[][] = [];
    const csv: ReportTable["csv"] = [];
    const flagged: AccuracyFlag[][] = [];
    rowKeys.forEach((key, i) => {
      const label = firstRow.get(key)!;
      const line: TableCell[] = [{ text: label.label }];
      const vals: number[] = [];
      blocks.forEach((b, j) => {
        const row = b.rows.find((r) => r.rowKey === key);
        const c = row?.cells[task];
        const shown = c ? (kind === "mean" ? c.mean : c.best) : NaN;
        const flags = cellFlags(c, metric, b.chance[task], kind);
        if (c && c.n > 0 && c.docs !== null) flagged.push(flags);
        line.push(
          c
            ? kind === "mean"
              ? meanCellText(c, flags)
              : bestCellText(c, flags)
            : { text: "not run", kind: "missing" },
        );
        vals.push(shown);
        const p = papers[j]![i];
        if (hasPaper[j]) {
          const d = p ? shown - p.value : NaN;
          line.push(
            p ? { text: fmt(p.value), kind: "num" } : { text: "—", kind: "missing" },
            p
              ? { text: signed(d), kind: Number.isFinite(d) ? (d >= 0 ? "pos" : "neg") : "missing" }
              : { text: "—", kind: "missing" },
          );
        }
        if (row && c) csv.push(compactCsvRecord(b.model, row, task, metric, c, p, shown, flags));
      });
      rows.push(line);
      values.push(vals);
    });
    markBestPerModel(rows, values, hasPaper);
    const marks = flagNotes(flagged, { [task]: blocks[0]!.chance[task] });
    const notes = [
      CELLS_NOTE[kind],
      `Every model is evaluated on ${task} only; one column per model. Metric (in %): \`${metric}\`. Bold = best in the column.`,
      ...marks.notes,
      ...paperNote(papers.flat()),
    ];
    tables.push({
      id: `accuracy-${kind}`,
      title: `Accuracy on ${task}: ${kind === "mean" ? "mean ± std over seeds" : "best of seeds"}${marks.titleSuffix}`,
      header,
      rows,
      notes,
      csv,
    });
  }
  return tables;
}

/** "better" / "worse" when the CI excludes 0, "not significant" when it does not, "too few pairs" below 2 pairs. */
export function pairVerdict(p: PairedComparison): string {
  return p.ci.n >= 2 && Number.isFinite(p.ci.lo)
    ? p.ci.lo > 0
      ? "better"
      : p.ci.hi < 0
        ? "worse"
        : "not significant"
    : "too few pairs";
}

export function pairedTable(pairs: readonly PairedComparison[]): ReportTable {
  const rows: TableCell[][] = pairs.map((p) => {
    const sig = pairVerdict(p);
    return [
      { text: p.model },
      { text: p.label },
      { text: p.baselineLabel },
      { text: String(p.ci.n), kind: "num" },
      { text: signed(p.ci.mean), kind: !Number.isFinite(p.ci.mean) ? "missing" : p.ci.mean >= 0 ? "pos" : "neg" },
      { text: p.ci.n >= 2 ? `[${signed(p.ci.lo)}, ${signed(p.ci.hi)}]` : "—", kind: "num" },
      { text: `${p.wins} / ${p.losses}`, kind: "num" },
      { text: sig, bold: sig === "better" },
    ];
  });
  return {
    id: "paired-vs-adamw",
    title: "Paired difference against AdamW",
    header: ["model", "optimizer", "baseline", "pairs", "mean Δ (pp)", "95% CI", "wins / losses", "verdict"],
    rows,
    notes: [
      "Each pair = the same model, setting, evaluation task and seed, trained with the optimizer and with AdamW; Δ = optimizer − AdamW in percentage points.",
      'CI: mean ± t(0.975, n−1)·s/√n over all pairs (tasks × seeds pooled). "better"/"worse" when the CI excludes 0.',
      ...(pairs.some((p) => p.pooled)
        ? [
            '"all N models": the pairs of every model pooled (models × tasks × seeds), each pair still within one model.',
          ]
        : []),
    ],
    csv: pairs.map((p) => ({
      model: p.model,
      row: p.label,
      baseline: p.baselineLabel,
      pairs: p.ci.n,
      mean_diff: num(p.ci.mean),
      std_diff: num(p.ci.std),
      ci_lo: num(p.ci.lo),
      ci_hi: num(p.ci.hi),
      level: p.ci.level,
      wins: p.wins,
      losses: p.losses,
    })),
  };
}

export function stabilityTable(rows: readonly StabilityRow[]): ReportTable {
  return {
    id: "stability",
    title: "Stability summary",
    header: [
      "model",
      "optimizer",
      "runs",
      "modules that met ‖A‖/n < ‖B‖/m",
      "median stop step",
      "final (‖A‖/n)/(‖B‖/m)",
      "δ1/δ2 RMS (last probe)",
      "ΔW effective rank",
    ],
    rows: rows.map((s) => [
      { text: s.model },
      { text: s.label },
      { text: String(s.runs), kind: "num" },
      { text: Number.isFinite(s.fractionMet) ? `${(100 * s.fractionMet).toFixed(0)}%` : "—", kind: "num" },
      {
        text: Number.isFinite(s.medianStopStep) ? String(Math.round(s.medianStopStep)) : "never",
        kind: Number.isFinite(s.medianStopStep) ? "num" : "missing",
      },
      { text: sig3(s.finalNormRatio), kind: "num" },
      { text: sig3(s.deltaRatio), kind: "num" },
      { text: fmt(s.effectiveRank), kind: "num" },
    ]),
    notes: [
      "Per module: normalised scale ratio (‖A‖_F/n)/(‖B‖_F/m), n = in-features, m = out-features; Stable-LoRA stops shrinking A when it drops below 1.",
      "Stop step: Stable-LoRA's recorded stop step; for other optimizers the first logged step with ratio < 1. Final ratio: median over modules and runs. δ1/δ2: median over modules at the last probe step, geometric mean over runs. Effective rank: exp(entropy) of ΔW's singular values, mean over modules and runs.",
    ],
    csv: rows.map((s) => ({
      model: s.model,
      row: s.label,
      optimizer: s.optimizer,
      runs: s.runs,
      fraction_met: num(s.fractionMet),
      median_stop_step: num(s.medianStopStep),
      final_norm_ratio: num(s.finalNormRatio),
      delta1_over_delta2: num(s.deltaRatio),
      effective_rank: num(s.effectiveRank),
    })),
  };
}

export function overheadTable(rows: readonly OverheadRow[]): ReportTable {
  return {
    id: "overhead",
    title: "Overhead relative to AdamW",
    header: [
      "model",
      "optimizer",
      "runs",
      "median step time (s)",
      "vs AdamW",
      "paper (time)",
      "peak RSS (MB)",
      "vs AdamW",
    ],
    rows: rows.map((o) => {
      const p = paperOverhead(o.model, o.optimizer);
      return [
        { text: o.model },
        { text: o.label },
        { text: String(o.runs), kind: "num" },
        { text: sig3(o.stepSeconds), kind: "num" },
        { text: pct(o.stepTimePct), kind: "num" },
        { text: p ? `${pct(p.value)}${p.sameModel ? "" : "*"}` : "—", kind: p ? "num" : "missing" },
        { text: Number.isFinite(o.peakRssMB) ? o.peakRssMB.toFixed(0) : "—", kind: "num" },
        { text: pct(o.peakRssPct), kind: "num" },
      ];
    }),
    notes: [
      "Step time: each run's median seconds per optimizer step (summary.medianStepSeconds), mean over successful runs. Peak RSS: the process's peak resident memory.",
      "Paper: Qwen2-0.5B on HellaSwag, total wall-clock training time vs AdamW (217.4 s); * = different model from the paper's, so only the trend is comparable.",
    ],
    csv: rows.map((o) => ({
      model: o.model,
      row: o.label,
      optimizer: o.optimizer,
      runs: o.runs,
      step_seconds: num(o.stepSeconds),
      step_time_pct: num(o.stepTimePct),
      paper_time_pct: paperOverhead(o.model, o.optimizer)?.value ?? null,
      peak_rss_mb: num(o.peakRssMB),
      peak_rss_pct: num(o.peakRssPct),
    })),
  };
}

/** Width study: one row per series (optimizer setting × lr exponent, in `order`), one column per term: γ̂ [95% CI]. */
export function widthGammaTable(fits: readonly WidthFit[], order: readonly string[]): ReportTable {
  // Rows: optimizers in the report's order (by the label's optimizer part), then by learning-rate exponent e.
  const heads = order.map((o) => o.split(",")[0]!);
  const rank = (s: string) => (heads.includes(s.split(",")[0]!) ? heads.indexOf(s.split(",")[0]!) : heads.length);
  const eOf = new Map(fits.map((f) => [f.series, f.e]));
  const series = [...new Set(fits.map((f) => f.series))].sort(
    (a, b) => rank(a) - rank(b) || eOf.get(a)! - eOf.get(b)! || naturalCompare(a, b),
  );
  const terms = ["δ1", "δ2", "δ3", "ΔY"].filter((t) => fits.some((f) => f.term === t));
  const methods = [...new Set(fits.map((f) => f.ciMethod))];
  return {
    id: "width-gamma",
    title: "Width study: fitted γ (slope of log rms(δ) on log n)",
    header: ["series", ...terms.map((t) => `γ̂ ${t} [95% CI]`), "widths", "runs"],
    rows: series.map((sr) => {
      const fs = fits.filter((f) => f.series === sr);
      return [
        { text: sr },
        ...terms.map((t): TableCell => {
          const f = fs.find((x) => x.term === t);
          if (!f) return { text: "—", kind: "missing" };
          return {
            text: `${signed(f.gamma, 2)}${Number.isFinite(f.lo) ? ` [${signed(f.lo, 2)}, ${signed(f.hi, 2)}]` : ""}`,
            kind: "num",
          };
        }),
        { text: String(Math.max(...fs.map((f) => f.widths))), kind: "num" },
        { text: String(Math.max(...fs.map((f) => f.points))), kind: "num" },
      ];
    }),
    notes: [
      "Per run: rms of each term on the probe batch, geometric mean over modules and over the probe steps of the second half of training; per width the mean over seeds of log rms; γ̂ = least-squares slope over widths.",
      `CI: ${methods.map((m) => (m === "bootstrap over seeds" ? "bootstrap over seeds (resampled within each width)" : m === "t (fit residuals)" ? "t interval from the fit's residuals (one seed per width)" : "none (too few widths or seeds)")).join("; ")}.`,
      "Theory (docs/paper-claims.md): with s fixed, η ∝ n^−0.5 makes every term Θ(1) in width (γ = 0). η fixed / η ∝ n^−e: the learning-rate exponent of the series (runs at the smallest width belong to every series).",
    ],
    csv: series.flatMap((sr) =>
      fits
        .filter((f) => f.series === sr)
        .map((f) => ({
          series: f.series,
          optimizer: f.optimizer,
          lr_exponent: f.e,
          term: f.term,
          gamma: num(f.gamma),
          ci_lo: num(f.lo),
          ci_hi: num(f.hi),
          ci_method: f.ciMethod,
          intercept: num(f.intercept),
          widths: f.widths,
          runs: f.points,
        })),
    ),
  };
}

/** Every run: status, error, links to its files (relative to the report folder). */
export function runListTable(axes: ExperimentAxes, runsRelDir: string): ReportTable {
  const rows: TableCell[][] = [];
  const csv: ReportTable["csv"] = [];
  const add = (run: LoadedRun, a: RunAxes | null) => {
    const steps = run.summary?.stepsCompleted ?? (run.status === "running" ? lastStepCheap(run) : null);
    const note = run.error ?? (run.warnings.length ? run.warnings.join("; ") : "");
    rows.push([
      { text: run.runId, href: `${runsRelDir}/${encodeURIComponent(run.runId)}/` },
      { text: run.status, kind: run.status === "success" ? "" : run.status === "running" ? "running" : "failed" },
      { text: a?.model ?? "?" },
      { text: a?.task ?? "?" },
      { text: a ? (OPTIMIZER_LABELS[a.optimizer] ?? a.optimizer) : "?" },
      { text: a ? String(a.seed) : "?", kind: "num" },
      { text: steps === null ? "—" : `${steps}${a ? ` / ${a.config.train.steps}` : ""}`, kind: "num" },
      { text: note, kind: "text" },
    ]);
    csv.push({
      run_id: run.runId,
      status: run.status,
      model: a?.model ?? null,
      task: a?.task ?? null,
      optimizer: a?.optimizer ?? null,
      seed: a?.seed ?? null,
      steps_completed: steps,
      error: run.error ?? null,
      warnings: run.warnings.join("; ") || null,
    });
  };
  for (const a of axes.runs) add(a.run, a);
  for (const r of axes.invalid) add(r, null);
  return {
    id: "runs",
    title: "Runs",
    header: ["run", "status", "model", "trained on", "optimizer", "seed", "steps", "error / notes"],
    rows,
    notes: ["running = no summary.json yet (still training, or stopped without writing one)."],
    csv,
  };
}

/** Long form: every final metric of every run (the table cells come from here). */
export function allMetricsCsv(axes: ExperimentAxes): Record<string, string | number | null>[] {
  const out: Record<string, string | number | null>[] = [];
  for (const a of axes.runs) {
    for (const task of a.evalTasks) {
      const keys = new Set<string>([
        ...a.run.evals.filter((e) => e.task === task && e.final).flatMap((e) => Object.keys(e.metrics)),
        ...Object.keys(a.run.summary?.final?.[task] ?? {}),
      ]);
      for (const metric of [...keys].sort()) {
        out.push({
          run_id: a.run.runId,
          status: a.run.status,
          model: a.model,
          task_trained: a.task,
          optimizer: a.optimizer,
          seed: a.seed,
          ...a.setting,
          eval_task: task,
          metric,
          value: finalValue(a, task, metric),
        });
      }
    }
  }
  return out;
}

function lastStepCheap(run: LoadedRun): number | null {
  const m = run.metrics();
  return m.length ? m[m.length - 1]!.step : null;
}

function sig3(x: number): string {
  if (!Number.isFinite(x)) return "—";
  return Math.abs(x) >= 1000 || (Math.abs(x) < 0.01 && x !== 0) ? x.toExponential(2) : x.toPrecision(3);
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(1)}%` : "—";
}

// ---------------------------------------------------------------------------------------------------------------
// Renderers

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function toMarkdown(t: ReportTable): string {
  const cell = (c: TableCell) => {
    let s = mdEscape(c.text);
    if (c.href) s = `[${s}](${c.href})`;
    return c.bold ? `**${s}**` : s;
  };
  // Right-align columns that hold numbers or statuses only; names stay left-aligned.
  const numeric = t.header.map(
    (_, j) =>
      j > 0 &&
      t.rows.length > 0 &&
      t.rows.every((r) => ["num", "pos", "neg", "missing", "failed", "running"].includes(r[j]?.kind ?? "")),
  );
  const lines = [
    `| ${t.header.map(mdEscape).join(" | ")} |`,
    `|${numeric.map((n) => (n ? "---:" : "---")).join("|")}|`,
  ];
  for (const r of t.rows) lines.push(`| ${r.map(cell).join(" | ")} |`);
  if (!t.rows.length) lines.push(`| ${t.header.map((_, i) => (i === 0 ? "(no rows)" : "")).join(" | ")} |`);
  return `${lines.join("\n")}\n${t.notes.map((n) => `\n${n}`).join("\n")}\n`;
}

export function toCsv(records: readonly Record<string, string | number | null>[]): string {
  const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
  return stringify(
    records.map((r) => columns.map((c) => r[c] ?? "")),
    { header: true, columns },
  );
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function toHtml(t: ReportTable): string {
  const th = t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  // Tables listed by model: a rule above the first row of each model, so the groups read as blocks.
  const grouped = t.header[0] === "model";
  const body = t.rows
    .map(
      (r, i) =>
        `<tr${grouped && i > 0 && r[0]?.text !== t.rows[i - 1]![0]?.text ? ' class="group"' : ""}>${r
          .map((c, j) => {
            let inner = escapeHtml(c.text);
            if (c.href) inner = `<a href="${escapeHtml(c.href)}">${inner}</a>`;
            if (c.bold) inner = `<strong>${inner}</strong>`;
            const cls = [c.kind, j === 0 ? "rowhead" : ""].filter(Boolean).join(" ");
            return `<td${cls ? ` class="${cls}"` : ""}>${inner}</td>`;
          })
          .join("")}</tr>`,
    )
    .join("\n");
  const notes = t.notes
    .map((n) => `<p class="note">${escapeHtml(n).replace(/`([^`]+)`/g, "<code>$1</code>")}</p>`)
    .join("");
  return `<table class="report" id="table-${escapeHtml(t.id)}"><caption>${escapeHtml(t.title)}</caption><thead><tr>${th}</tr></thead><tbody>\n${body || `<tr><td colspan="${t.header.length}" class="missing">no rows</td></tr>`}\n</tbody></table>${notes}`;
}
