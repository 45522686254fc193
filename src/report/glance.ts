// "At a glance": the few sentences that open the report, generated from the same aggregates as the tables (best
// optimizer per model, Stable-LoRA's paired Δ against AdamW with its CI and verdict, how often Stable-LoRA's stop
// condition held and when, the fitted width exponents γ̂), plus which runs feed the paper's Figure 2 panel shown
// under them. Numbers only, no adjectives; anything the data cannot support is left out rather than guessed.
import type { Block, PairedComparison, StabilityRow } from "./aggregate.ts";
import type { RunAxes } from "./axes.ts";
import { naturalCompare } from "./axes.ts";
import type { WidthFit, WidthPoint } from "./series.ts";
import { fmt, pairVerdict, signed } from "./tables.ts";
import { median } from "./stats.ts";
import type { ClaimResult } from "./claims.ts";
import { claimsGlanceLine } from "./claims.ts";

export interface GlanceInput {
  blocks: readonly Block[];
  /** Per model and pooled (pooledPairs) comparisons against AdamW. */
  pairs: readonly PairedComparison[];
  stability: readonly StabilityRow[];
  width: { points: readonly WidthPoint[]; fits: readonly WidthFit[] };
  runs: readonly RunAxes[];
  /** The computed claim verdicts (claims.ts); the section leads with them. */
  claims?: readonly ClaimResult[];
}

const metricWord = (m: string) => (m.startsWith("exact_match") ? "exact match" : m.startsWith("acc") ? "accuracy" : m);
const optimizerOf = (rowKey: string) => rowKey.split("|")[0]!;

/** The sentences, in reading order (each one complete, ending with a full stop). */
export function glanceLines(g: GlanceInput): string[] {
  const out: string[] = [];
  const claims = claimsGlanceLine(g.claims ?? []);
  if (claims) out.push(claims);
  const total = g.runs.length;
  const ok = g.runs.filter((r) => r.run.status === "success").length;
  if (total && ok < total)
    out.push(
      `${ok} of ${total} runs have finished successfully; the numbers below use those only (the rest are listed under "What is missing").`,
    );
  const best = bestLine(g.blocks);
  if (best) out.push(best);
  out.push(...stableVsAdamw(g.pairs));
  const stop = stopLine(g.stability, g.runs);
  if (stop) out.push(stop);
  const gamma = gammaLine(g.width);
  if (gamma) out.push(gamma);
  if (!out.length) out.push(total ? "No run has a final evaluation yet." : "No runs yet.");
  return out;
}

/** Per model: the row(s) with the highest mean (the task's, or the average over tasks). */
function bestLine(blocks: readonly Block[]): string | null {
  const entries: { model: string; labels: string[]; value: number; n: number }[] = [];
  for (const b of blocks) {
    if (!b.tasks.length) continue;
    const scored = b.rows
      .map((r) => {
        const c = b.tasks.length === 1 ? r.cells[b.tasks[0]!]! : r.average;
        return { label: r.label, value: c && c.n ? c.mean : NaN, n: c?.n ?? 0 };
      })
      .filter((x) => Number.isFinite(x.value));
    if (!scored.length) continue;
    const top = Math.max(...scored.map((x) => x.value));
    const winners = scored.filter((x) => x.value === top);
    entries.push({
      model: b.model,
      labels: winners.map((w) => w.label),
      value: top,
      n: Math.min(...winners.map((w) => w.n)),
    });
  }
  if (!entries.length) return null;
  const key = (b: Block) => `${b.tasks.join(",")}|${b.tasks.map((t) => b.metrics[t]).join(",")}`;
  const withTasks = blocks.filter((b) => b.tasks.length);
  const same = new Set(withTasks.map(key)).size === 1;
  const b0 = withTasks[0]!;
  const what = !same
    ? "score (per model: its tasks' average, or its single task)"
    : b0.tasks.length === 1
      ? `${metricWord(b0.metrics[b0.tasks[0]!]!)} on ${b0.tasks[0]}`
      : `${metricWord(b0.metrics[b0.tasks[0]!]!)} averaged over ${b0.tasks.length} tasks`;
  const ns = new Set(entries.map((e) => e.n));
  const seeds = ns.size === 1 ? ` (%, mean over ${[...ns][0]} seed${[...ns][0] === 1 ? "" : "s"})` : " (%, n = seeds)";
  const parts = entries.map(
    (e) =>
      `${entries.length > 1 ? `${e.model}: ` : ""}${e.labels.join(" = ")} ${fmt(e.value)}${ns.size > 1 ? ` (n=${e.n})` : ""}`,
  );
  return `Highest mean ${what}${seeds}: ${parts.join("; ")}.`;
}

/** One sentence per Stable-LoRA row: paired Δ against AdamW per model, then pooled over models, CI and verdict. */
function stableVsAdamw(pairs: readonly PairedComparison[]): string[] {
  const stable = pairs.filter((p) => optimizerOf(p.rowKey) === "stable-lora" && p.ci.n > 0);
  const labels = [...new Set(stable.map((p) => p.label))];
  return labels.map((label) => {
    const ps = stable.filter((p) => p.label === label);
    const perModel = ps.filter((p) => !p.pooled);
    const pooled = ps.find((p) => p.pooled);
    const base = [...new Set(ps.map((p) => p.baselineLabel))].join(" / ");
    const one = (p: PairedComparison, withModel: boolean) => {
      const ci = p.ci.n >= 2 ? `, 95% CI [${signed(p.ci.lo)}, ${signed(p.ci.hi)}]` : "";
      return `${withModel ? `${p.model} ` : ""}${signed(p.ci.mean)}${ci} (n=${p.ci.n}${p.ci.n >= 2 ? `, ${pairVerdict(p)}` : ""})`;
    };
    const parts = perModel.map((p) => one(p, perModel.length > 1));
    if (pooled)
      parts.push(
        `all ${perModel.length} models pooled ${signed(pooled.ci.mean)}${pooled.ci.n >= 2 ? `, 95% CI [${signed(pooled.ci.lo)}, ${signed(pooled.ci.hi)}]` : ""} (n=${pooled.ci.n}, ${pairVerdict(pooled)})`,
      );
    return `${label} − ${base}, paired by model, task and seed (percentage points): ${parts.join("; ")}.`;
  });
}

/** Fraction of Stable-LoRA modules that met ‖A‖/n < ‖B‖/m and the median stop step, pooled over models. */
function stopLine(stability: readonly StabilityRow[], runs: readonly RunAxes[]): string | null {
  const rows = stability.filter((s) => s.optimizer === "stable-lora" && s.modules > 0);
  if (!rows.length) return null;
  const labels = [...new Set(rows.map((r) => r.label))];
  const multiLabel = labels.length > 1;
  const sentences = labels.map((label) => {
    const rs = rows.filter((r) => r.label === label);
    const modules = rs.reduce((a, r) => a + r.modules, 0);
    const met = rs.reduce((a, r) => a + r.met, 0);
    const perModel = rs.length > 1 ? `; ${rs.map((r) => `${r.model} ${pct(r.met / r.modules)}`).join(", ")}` : "";
    const stops = rs.flatMap((r) => r.stopSteps);
    const steps = new Set(
      runs.filter((r) => r.optimizer === "stable-lora" && r.rowLabel === label).map((r) => r.config.train.steps),
    );
    const of = steps.size === 1 ? ` of ${[...steps][0]} training steps` : "";
    const when = stops.length ? `; median stop step ${Math.round(median(stops))}${of}` : "";
    return `${multiLabel ? `${label}: ` : ""}${met} of ${modules} modules (${pct(met / modules)}${perModel})${when}`;
  });
  return `Stable-LoRA's stop condition ‖A‖/n < ‖B‖/m held in ${sentences.join("; ")}.`;
}

/** γ̂ of δ1, δ2, δ3 for AdamW and Stable-LoRA (the other optimizers are in the width-study table). */
function gammaLine(width: GlanceInput["width"]): string | null {
  const optimizerOfSeries = new Map(width.points.map((p) => [p.series, p.optimizer]));
  const series = [...new Set(width.fits.map((f) => f.series))].filter((s) =>
    ["adamw", "stable-lora"].includes(optimizerOfSeries.get(s) ?? ""),
  );
  if (!series.length) return null;
  series.sort(
    (a, b) =>
      (optimizerOfSeries.get(a) === "adamw" ? 0 : 1) - (optimizerOfSeries.get(b) === "adamw" ? 0 : 1) ||
      naturalCompare(a, b),
  );
  const parts = series.map(
    (s) =>
      `${s} ${width.fits
        .filter((f) => f.series === s)
        .map((f) => `${f.term} ${signed(f.gamma)}`)
        .join(", ")}`,
  );
  const widths = [...new Set(width.points.map((p) => p.width))].sort((a, b) => a - b);
  return `Fitted width exponents γ̂ (slope of log rms(δ) on log n over n = ${widths.join(", ")}; 0 = constant in width): ${parts.join("; ")}.`;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : "—";
}

/**
 * The runs for the at-a-glance Figure 2 panel: AdamW and Stable-LoRA on one model and training task. The model is
 * the widest that has both (hidden size; then most runs; then the last in natural order), the task the one with the
 * most of those runs. null when no model has both optimizers with logged metrics.
 */
export function glanceNormRuns(runs: readonly RunAxes[]): { runs: RunAxes[]; model: string; task: string } | null {
  const pick = runs.filter(
    (r) =>
      (r.optimizer === "adamw" || r.optimizer === "stable-lora") &&
      r.run.status !== "invalid" &&
      r.run.metrics().length > 0,
  );
  const candidates: { model: string; task: string; runs: RunAxes[]; width: number }[] = [];
  for (const model of new Set(pick.map((r) => r.model))) {
    for (const task of new Set(pick.filter((r) => r.model === model).map((r) => r.task))) {
      const rs = pick.filter((r) => r.model === model && r.task === task);
      if (!rs.some((r) => r.optimizer === "adamw") || !rs.some((r) => r.optimizer === "stable-lora")) continue;
      candidates.push({ model, task, runs: rs, width: Math.max(0, ...rs.map((r) => r.run.hiddenSize ?? 0)) });
    }
  }
  if (!candidates.length) return null;
  candidates.sort(
    (a, b) =>
      b.width - a.width ||
      b.runs.length - a.runs.length ||
      naturalCompare(b.model, a.model) ||
      naturalCompare(a.task, b.task),
  );
  const c = candidates[0]!;
  return { runs: c.runs, model: c.model, task: c.task };
}
