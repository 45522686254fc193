// renderReport: results/<experiment>/ → reports/<experiment>/ (README.md, index.html, claims.json, tables/*.md|csv,
// plots/*.vl.json|svg|png). The page leads with the paper's claims tested against the runs (claims.ts). Reads only
// the results folder, never models or optimizers; safe to call while a sweep is still writing (unfinished runs show
// as running, unreadable lines are skipped and listed as warnings).
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../results.ts";
import { loadExperiment } from "./load.ts";
import { describeRuns } from "./axes.ts";
import type { RunAxes } from "./axes.ts";
import { LR_SCALING_KEY } from "./axes.ts";
import { buildBlocks, overheadRows, pairedVsAdamw, pooledPairs, stabilityRows } from "./aggregate.ts";
import type { Block } from "./aggregate.ts";
import {
  accuracyTables,
  allMetricsCsv,
  overheadTable,
  pairedTable,
  runListTable,
  sharedSingleTask,
  slug,
  stabilityTable,
  toCsv,
  toMarkdown,
  widthGammaTable,
} from "./tables.ts";
import type { ReportTable } from "./tables.ts";
import {
  accuracyPoints,
  accuracyVsSteps,
  deltaRatioSeries,
  lossSeries,
  normSeries,
  spectrumSeries,
  stopGrid,
  widthStudy,
} from "./series.ts";
import {
  accuracyByModelSpec,
  accuracySpec,
  accuracyVsStepsSpec,
  colorScale,
  deltaRatioSpec,
  lossByModelSpec,
  lossSpec,
  normsSpec,
  overheadSpec,
  spectrumSpec,
  stopHeatmapSpec,
  widthSpec,
} from "./plots.ts";
import type { OverheadDatum, VlSpec } from "./plots.ts";
import { renderPlot } from "./render-plot.ts";
import { paperOverhead } from "./paper.ts";
import { provenanceOf, renderHtml, renderReadme } from "./page.ts";
import type { PageFigure } from "./page.ts";
import { glanceLines, glanceNormRuns } from "./glance.ts";
import { c5Context, claimRuns, claimsTable, evaluateClaims } from "./claims.ts";
import type { ClaimResult } from "./claims.ts";
import { THRESHOLDS } from "./claims-thresholds.ts";

export interface RenderReportOptions {
  experiment: string;
  /** One results folder, or several whose runs are merged (src/report/load.ts). */
  resultsDir: string | readonly string[];
  reportsDir: string;
  /** Skip the figures (tables only; fast). Default false. */
  noPlots?: boolean;
  /** Timestamp written into the page (tests pass a fixed one). */
  now?: Date;
}

export interface RenderReportResult {
  /** reports/<experiment>, absolute. */
  dir: string;
  /** What is missing or could not be read (also listed at the top of the page). */
  warnings: string[];
  tables: string[];
  plots: string[];
}

/** Per model, stability plots are drawn per training task when there are at most this many tasks; else pooled. */
const MAX_TASK_GROUPS = 3;

export async function renderReport(opts: RenderReportOptions): Promise<RenderReportResult> {
  const exp = loadExperiment(opts.resultsDir, opts.experiment);
  const dir = path.resolve(opts.reportsDir, opts.experiment);
  fs.mkdirSync(dir, { recursive: true });
  for (const sub of ["tables", "plots"]) fs.rmSync(path.join(dir, sub), { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, "tables"), { recursive: true });

  for (const r of exp.runs) r.metrics(); // read now, so corrupt lines show up in the warnings below
  const axes = describeRuns(exp.runs);
  const t = computeTables(axes);
  writeFileAtomic(
    path.join(dir, "claims.json"),
    JSON.stringify({ experiment: opts.experiment, claims: t.claims, thresholds: THRESHOLDS }, null, 2) + "\n",
  );
  const resultsRel = path.relative(dir, exp.dir) || ".";
  const runList = runListTable(axes, resultsRel.split(path.sep).join("/"));
  const sections = tableSections(axes, t);
  const tableIds = writeTables(dir, [...sections.flatMap((s) => s.tables), runList]);
  fs.writeFileSync(path.join(dir, "tables", "all-metrics.csv"), toCsv(allMetricsCsv(axes)));

  const warnings: string[] = [...exp.warnings];
  const { glanceFigure, figures } = opts.noPlots
    ? { glanceFigure: null, figures: [] }
    : await renderFigures(dir, axes, t, warnings);
  const counts = runWarnings(exp, warnings);
  const glance = {
    lines: glanceLines({
      blocks: t.blocks,
      pairs: t.pairs,
      stability: t.stab,
      width: t.width,
      runs: t.validRuns,
      claims: t.claims,
    }),
    figure: glanceFigure,
  };
  const page = {
    experiment: opts.experiment,
    glance,
    generatedAt: (opts.now ?? new Date()).toISOString(),
    resultsDirRel: resultsRel,
    counts,
    warnings,
    sections,
    figures,
    runList,
    provenance: provenanceOf(exp.runs),
  };
  writeFileAtomic(path.join(dir, "index.html"), renderHtml(page));
  writeFileAtomic(path.join(dir, "README.md"), renderReadme(page));
  const plots = [...(glanceFigure ? [glanceFigure.name] : []), ...figures.map((f) => f.name)];
  return { dir, warnings, tables: tableIds, plots };
}

/** Everything the tables, the claims and the glance lines are computed from. */
function computeTables(axes: ReturnType<typeof describeRuns>) {
  const blocks = buildBlocks(axes);
  const perModelPairs = pairedVsAdamw(blocks);
  const pairs = [...perModelPairs, ...pooledPairs(perModelPairs)];
  const stab = stabilityRows(blocks);
  const over = overheadRows(blocks);
  const width = widthStudy(axes.runs);
  const validRuns = axes.runs.filter((r) => r.run.status !== "invalid");
  const claims = evaluateClaims({
    runs: claimRuns(validRuns),
    fits: width.fits,
    c5: { pairs, ...c5Context(blocks, pairs) },
  });
  return { blocks, accuracy: accuracyTables(blocks), pairs, stab, over, width, validRuns, claims };
}

type Tables = ReturnType<typeof computeTables>;

/** The report's table sections, in page order (claims first). */
function tableSections(axes: ReturnType<typeof describeRuns>, t: Tables) {
  const gammaTable: ReportTable | null = t.width.fits.length
    ? widthGammaTable(t.width.fits, plotScale(t.blocks).domain)
    : null;
  let accuracyIntro = sharedSingleTask(t.blocks)
    ? "Every model is evaluated on the same single task, so each table has one column per model. Rows: optimizer (and any hyperparameter that varies in this experiment)."
    : "One block per model. Rows: optimizer (and any hyperparameter that varies in this experiment); columns: evaluation tasks and their average.";
  if (axes.varying.includes(LR_SCALING_KEY)) {
    accuracyIntro +=
      " The learning rate is scaled with width (η = η0·(n/n0)^(−e)); at the smallest width every exponent gives η0, so those runs are shown once, under η ∝ n^−0.5 (or the smallest exponent).";
  }
  const overheadShown = t.over.some((o) => o.optimizer !== "adamw" && Number.isFinite(o.stepTimePct));
  return [
    {
      id: "claims",
      short: "Claims",
      title: "Paper's claims vs this data",
      intro:
        "One row per claim of the paper these runs can speak to; the verdict is computed, never written by hand (claims.json has the numbers).",
      tables: t.claims.length ? [claimsTable(t.claims)] : [],
    },
    { id: "accuracy", title: "Accuracy", intro: accuracyIntro, tables: t.accuracy },
    {
      id: "paired",
      short: "Paired vs AdamW",
      title: "Is it noise? Paired comparison against AdamW",
      tables: t.pairs.length ? [pairedTable(t.pairs)] : [],
    },
    { id: "stability", title: "Stability", tables: t.stab.length ? [stabilityTable(t.stab)] : [] },
    { id: "overhead", title: "Overhead", tables: overheadShown ? [overheadTable(t.over)] : [] },
    { id: "width", title: "Width study", tables: gammaTable ? [gammaTable] : [] },
  ];
}

/** tables/<id>.md and .csv for each table; returns the ids. */
function writeTables(dir: string, tables: readonly ReportTable[]): string[] {
  for (const t of tables) {
    fs.writeFileSync(path.join(dir, "tables", `${t.id}.md`), `# ${t.title}\n\n${toMarkdown(t)}`);
    fs.writeFileSync(path.join(dir, "tables", `${t.id}.csv`), toCsv(t.csv));
  }
  return tables.map((t) => t.id);
}

/** The at-a-glance Figure 2 panel first, then every figure the data supports; a plot that fails becomes a warning. */
async function renderFigures(dir: string, axes: ReturnType<typeof describeRuns>, t: Tables, warnings: string[]) {
  const figures: PageFigure[] = [];
  let glanceFigure: PageFigure | null = null;
  const g = glanceNormRuns(axes.runs);
  const norms = g ? normSeries(g.runs) : [];
  if (g && norms.length) {
    const where = `${g.model}, trained on ${g.task}`;
    const name = "glance-norms";
    try {
      const r = await renderPlot(normsSpec(norms, plotScale(t.blocks), where), path.join(dir, "plots"), name);
      const widest = axes.models.length > 1 ? " (the widest model with both optimizers)" : "";
      glanceFigure = {
        name,
        title: `‖A‖_F and ‖B‖_F, AdamW and Stable-LoRA — ${where}`,
        caption: `The paper's Figure 2 on ${g.model}${widest}: ‖A‖_F and ‖B‖_F per module type against step.${verdictNote(t.claims, ["C1", "C2"])} All optimizers and models: Figures below.`,
        svg: r.svg,
        section: "At a glance",
      };
    } catch (e) {
      warnings.push(`plot ${name} could not be rendered: ${(e as Error).message}`);
    }
  }
  // All at once: each one's PNG rasterises off the main thread while the next one's SVG is laid out.
  const jobs = plotJobs(axes.runs, t.blocks, t.over, t.width, t.claims);
  const rendered = await Promise.allSettled(jobs.map((job) => renderPlot(job.spec, path.join(dir, "plots"), job.name)));
  rendered.forEach((r, i) => {
    const job = jobs[i]!;
    if (r.status === "fulfilled")
      figures.push({ name: job.name, title: job.title, caption: job.caption, svg: r.value.svg, section: job.section });
    else warnings.push(`plot ${job.name} could not be rendered: ${(r.reason as Error).message}`);
  });
  return { glanceFigure, figures };
}

/** What is missing or went wrong, added to `warnings`; returns the run counts by status. */
function runWarnings(exp: ReturnType<typeof loadExperiment>, warnings: string[]): Record<string, number> {
  for (const r of exp.runs) for (const w of r.warnings) warnings.push(`${r.runId}: ${w}`);
  const counts: Record<string, number> = { runs: exp.runs.length };
  for (const r of exp.runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
  if (exp.exists && exp.runs.length && !exp.runs.some((r) => r.status === "success")) {
    warnings.push("no run has finished successfully yet: the tables have no values");
  }
  for (const r of exp.runs) {
    if (r.status === "failed" || r.status === "diverged" || r.status === "interrupted") {
      warnings.push(`${r.runId}: ${r.status}${r.error ? ` — ${r.error}` : ""}`);
    }
  }
  return counts;
}

interface PlotJob {
  name: string;
  title: string;
  caption: string;
  section: string;
  spec: VlSpec;
}

/**
 * Which figures this experiment's data supports, one job per figure.
 * long: one entry per figure in page order, each a data selection and a spec call; the list is the page's outline.
 */
export function plotJobs(
  runs: readonly RunAxes[],
  blocks: readonly Block[],
  over: ReturnType<typeof overheadRows>,
  width: ReturnType<typeof widthStudy>,
  claims: readonly ClaimResult[] = [],
): PlotJob[] {
  const jobs: PlotJob[] = [];
  const scale = plotScale(blocks);
  // A study over several models trained on one task each: loss (and, with one shared evaluation task, accuracy) as
  // one figure with a panel / group per model instead of one figure per model.
  const allModels = "All models";
  const lossTogether = blocks.length >= 2 && blocks.every((b) => b.trainTasks.length === 1);
  const sharedTask = sharedSingleTask(blocks);
  const accuracyTogether = sharedTask !== null;
  if (lossTogether) {
    const data = blocks.flatMap((b) =>
      lossSeries(runs.filter((r) => r.model === b.model && r.run.status !== "invalid")).map((p) => ({
        ...p,
        model: b.model,
      })),
    );
    const trained = [...new Set(blocks.map((b) => b.trainTasks[0]!))];
    if (data.length)
      jobs.push({
        name: "loss",
        title: "Training loss — all models",
        caption: "Training loss per step (bucket means), one panel per model, mean over seeds with min–max band.",
        section: allModels,
        spec: lossByModelSpec(data, scale, `${blocks.length} models, trained on ${trained.join(" / ")}`),
      });
  }
  if (accuracyTogether) {
    const data = blocks.flatMap((b) =>
      accuracyPoints(
        runs.filter((r) => r.model === b.model),
        b.metrics,
      ).map((p) => ({ ...p, model: b.model })),
    );
    const b0 = blocks.find((b) => b.tasks.length)!;
    if (data.length)
      jobs.push({
        name: "accuracy",
        title: `Final accuracy on ${sharedTask} — all models`,
        caption: `Final evaluation on ${sharedTask} (${b0.metrics[sharedTask]}), one group per model.`,
        section: allModels,
        spec: accuracyByModelSpec(
          data,
          scale,
          `${blocks.length} models, evaluated on ${sharedTask}`,
          metricAxisTitle(b0),
        ),
      });
  }
  for (const block of blocks) {
    const modelRuns = runs.filter((r) => r.model === block.model && r.run.status !== "invalid");
    const mslug = slug(block.model);
    const groups: { key: string; where: string; runs: RunAxes[] }[] =
      block.trainTasks.length <= MAX_TASK_GROUPS
        ? block.trainTasks.map((t) => ({
            key: block.trainTasks.length > 1 ? `${mslug}--${slug(t)}` : mslug,
            where: `${block.model}, trained on ${t}`,
            runs: modelRuns.filter((r) => r.task === t),
          }))
        : [
            {
              key: mslug,
              where: `${block.model}, all ${block.trainTasks.length} training tasks pooled`,
              runs: modelRuns,
            },
          ];
    for (const g of groups) {
      const section = g.where;
      const loss = lossSeries(g.runs);
      if (loss.length && !lossTogether)
        jobs.push({
          name: `loss--${g.key}`,
          title: `Training loss — ${g.where}`,
          caption: "Training loss per step (bucket means), mean over seeds with min–max band.",
          section,
          spec: lossSpec(loss, scale, g.where),
        });
      const norms = normSeries(g.runs);
      if (norms.length)
        jobs.push({
          name: `norms--${g.key}`,
          title: `‖A‖_F and ‖B‖_F — ${g.where}`,
          caption: `As the paper's Figure 2 (the paper reports that under AdamW ‖A‖_F stays near its initial value while ‖B‖_F grows from 0, and that Stable-LoRA shrinks A early).${verdictNote(claims, ["C1", "C2"])}`,
          section,
          spec: normsSpec(norms, scale, g.where),
        });
      const dr = deltaRatioSeries(g.runs);
      if (dr.length)
        jobs.push({
          name: `delta-ratio--${g.key}`,
          title: `δ1/δ2 — ${g.where}`,
          caption: `rms(δ1)/rms(δ2) on the probe batch: ≫ 1 means the B-update through A dominates the feature update.${verdictNote(claims, ["C3"])}`,
          section,
          spec: deltaRatioSpec(dr, scale, g.where),
        });
      const stops = stopGrid(g.runs);
      if (stops.length)
        jobs.push({
          name: `stop-steps--${g.key}`,
          title: `Stable-LoRA stop steps — ${g.where}`,
          caption: "Step at which each module stopped shrinking A (median over seeds); grey = never stopped.",
          section,
          spec: stopHeatmapSpec(stops, g.where, scale.domain),
        });
      const spec = spectrumSeries(g.runs);
      if (spec.length)
        jobs.push({
          name: `spectrum--${g.key}`,
          title: `ΔW singular values — ${g.where}`,
          caption: "Singular values of the learned update ΔW = s·B·A (log scale).",
          section,
          spec: spectrumSpec(spec, scale, g.where),
        });
    }
    const metricTitle = metricAxisTitle(block);
    const acc = accuracyPoints(modelRuns, block.metrics);
    if (acc.length && !accuracyTogether)
      jobs.push({
        name: `accuracy--${mslug}`,
        title: `Final accuracy — ${block.model}`,
        caption: `Final evaluation per task (${Object.entries(block.metrics)
          .map(([t, m]) => `${t}: ${m}`)
          .join(", ")}).`,
        section: `${block.model}: accuracy`,
        spec: accuracySpec(acc, scale, block.model, metricTitle),
      });
    const stepsVary = new Set(modelRuns.map((r) => r.config.train.steps)).size > 1;
    const vs = accuracyVsSteps(modelRuns, block.metrics, stepsVary);
    const distinctSteps = new Set(vs.map((p) => p.step)).size;
    if (distinctSteps >= 2)
      jobs.push({
        name: `accuracy-vs-steps--${mslug}`,
        title: `Accuracy against training steps — ${block.model}`,
        caption: stepsVary
          ? "Each point: final evaluation of runs trained for that many steps."
          : "Periodic evaluations during training.",
        section: `${block.model}: accuracy`,
        spec: accuracyVsStepsSpec(vs, scale, block.model, metricTitle),
      });
  }
  if (width.fits.length)
    jobs.push({
      name: "width-gamma",
      title: "δ terms against width",
      caption: `Slopes estimate γ[δ_i] (0 = Θ(1) in width), one panel per optimizer setting and learning-rate exponent.${verdictNote(claims, ["C4"])}`,
      section: "Width study",
      spec: widthSpec(width.points, width.fits, "random-init models of increasing width", scale.domain),
    });
  // AdamW is the 0% reference: drawn as the axis line, not as a bar.
  const od: OverheadDatum[] = over
    .filter((o) => o.optimizer !== "adamw" && Number.isFinite(o.stepTimePct))
    .flatMap((o) => {
      const p = paperOverhead(o.model, o.optimizer);
      return [
        {
          series: o.label,
          optimizer: o.optimizer,
          model: o.model,
          quantity: "median step time",
          pct: o.stepTimePct,
          paper: p ? p.value : null,
        },
        ...(Number.isFinite(o.peakRssPct)
          ? [
              {
                series: o.label,
                optimizer: o.optimizer,
                model: o.model,
                quantity: "peak RSS",
                pct: o.peakRssPct,
                paper: null,
              },
            ]
          : []),
      ];
    });
  if (od.some((d) => d.optimizer !== "adamw")) {
    const models = [...new Set(over.map((o) => o.model))];
    jobs.push({
      name: "overhead",
      title: "Overhead relative to AdamW",
      caption: "Median step time and peak resident memory relative to AdamW.",
      section: "Overhead",
      spec: overheadSpec(od, scale, models.length > 1 ? `${models.length} models` : models[0]!),
    });
  }
  return jobs;
}

/** " This data: C1 contradicted, C2 supported (claims table)." for the claims whose id starts with one of `ids`. */
function verdictNote(claims: readonly ClaimResult[], ids: readonly string[]): string {
  const cs = claims.filter((c) => ids.some((id) => c.id.startsWith(id)));
  return cs.length
    ? ` On this data: ${cs.map((c) => `${c.id} ${c.verdict}`).join(", ")} (see "Paper's claims vs this data").`
    : "";
}

/** One colour per table row label (optimizer colours, shades for variants), shared by every figure. */
function plotScale(blocks: readonly Block[]): ReturnType<typeof colorScale> {
  return colorScale(blocks.flatMap((b) => b.rows.map((r) => ({ label: r.label, optimizer: r.optimizer }))));
}

const METRIC_WORDS: Record<string, string> = {
  "acc,none": "accuracy",
  "acc_norm,none": "length-normalised accuracy",
  "exact_match,strict-match": "exact match (strict)",
  "exact_match,flexible-extract": "exact match (flexible)",
};

function metricAxisTitle(block: Block): string {
  const ms = [...new Set(Object.values(block.metrics))];
  return ms.length === 1 ? `${METRIC_WORDS[ms[0]!] ?? ms[0]} (%)` : "score (%; metric per task in the caption)";
}
