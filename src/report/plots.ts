// Vega-Lite specs for the report's figures: factor norms (the paper's Figure 2), δ1/δ2 ratio, stop-step heatmap,
// loss, accuracy by optimizer, accuracy vs steps, the quickstart width study (γ slopes), ΔW spectra and overhead.
// One colour per optimizer everywhere (Okabe–Ito, colour-blind safe); variants of one optimizer get shades of it.
import type { AccuracyPoint, BandPoint, StopCell, WidthFit, WidthPoint } from "./series.ts";
import { compareModuleTypes, naturalCompare, optimizerRank, sortTasks } from "./axes.ts";

export type VlSpec = Record<string, unknown>;

export const FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif";

export const OPTIMIZER_COLORS: Record<string, string> = {
  adamw: "#0072B2",
  "lora-plus": "#E69F00",
  riemannian: "#009E73",
  "lora-rite": "#CC79A7",
  "stable-lora": "#D55E00",
};
const OTHER_COLOR = "#555555";

export interface SeriesInfo {
  label: string;
  optimizer: string;
}

/**
 * Colour scale for series labels: each optimizer's colour; its 2nd, 3rd, … variants darker/lighter shades. The
 * domain (legend and facet order) follows the one optimizer order (adamw, lora-plus, riemannian, lora-rite,
 * stable-lora), variants of one optimizer in their order of first appearance.
 */
export function colorScale(series: readonly SeriesInfo[]): { domain: string[]; range: string[] } {
  const seen = new Map<string, number>();
  const domain: string[] = [];
  const range: string[] = [];
  const ordered = series
    .map((s, i) => ({ s, i }))
    .sort((a, b) => optimizerRank(a.s.optimizer) - optimizerRank(b.s.optimizer) || a.i - b.i)
    .map((x) => x.s);
  for (const s of ordered) {
    if (domain.includes(s.label)) continue;
    const i = seen.get(s.optimizer) ?? 0;
    seen.set(s.optimizer, i + 1);
    domain.push(s.label);
    range.push(shade(OPTIMIZER_COLORS[s.optimizer] ?? OTHER_COLOR, i));
  }
  return { domain, range };
}

/** Variant i of a colour: 0 = itself, then alternately darker and lighter in growing steps. */
export function shade(hex: string, i: number): string {
  if (i === 0) return hex;
  const amount = Math.min(0.6, 0.22 * Math.ceil(i / 2)) * (i % 2 ? -1 : 1);
  const c = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  const mixed = c.map((v) => Math.round(amount < 0 ? v * (1 + amount) : v + (255 - v) * amount));
  return `#${mixed.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

const CONFIG = {
  font: FONT,
  background: "white",
  padding: 12,
  title: { fontSize: 15, anchor: "start", subtitleFontSize: 11, subtitleColor: "#555", offset: 10 },
  axis: { labelFontSize: 11, titleFontSize: 12, labelOverlap: "parity", gridColor: "#e8e8e8", titlePadding: 8 },
  legend: {
    labelFontSize: 11,
    titleFontSize: 12,
    labelLimit: 320,
    symbolType: "stroke",
    symbolOpacity: 1,
    symbolStrokeWidth: 3,
    symbolSize: 220,
  },
  header: { labelFontSize: 12, titleFontSize: 12, labelFontWeight: "bold" },
  view: { stroke: "#cccccc" },
};

function base(title: string, subtitle: string, data: unknown[]): VlSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, subtitle: wrap(subtitle, 95) },
    data: { values: data },
    config: CONFIG,
  };
}

/**
 * Break a subtitle into lines of at most `width` characters. Headless vega has no canvas to measure text and
 * over-estimates long lines (0.8 em per character), which would pad the figure with blank space on the right.
 */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Distinct values of `field` in `data`, in the given order (facet and axis sort lists). */
function present<T extends Record<string, unknown>>(
  data: readonly T[],
  field: string,
  compare: (a: string, b: string) => number,
): string[] {
  return [...new Set(data.map((d) => String(d[field])))].sort(compare);
}

const moduleFacet = (data: readonly Record<string, unknown>[]) => ({
  field: "module",
  type: "nominal",
  title: "module type",
  sort: present(data, "module", compareModuleTypes),
});

function colorEnc(scale: ReturnType<typeof colorScale>, title = "optimizer") {
  return { field: "series", type: "nominal", scale, title };
}

/** The global colour scale restricted to the series present in `data` (legends list only what is drawn). */
export function subsetScale(
  scale: ReturnType<typeof colorScale>,
  data: readonly { series: string }[],
): ReturnType<typeof colorScale> {
  const present = new Set(data.map((d) => d.series));
  const keep = scale.domain.map((d, i) => [d, scale.range[i]!] as const).filter(([d]) => present.has(d));
  return { domain: keep.map(([d]) => d), range: keep.map(([, r]) => r) };
}

/** Mean line with a shaded min–max band across seeds. */
function bandLayers(
  scale: ReturnType<typeof colorScale>,
  x: VlSpec,
  yTitle: string,
  yScale: VlSpec = { zero: false },
): VlSpec[] {
  return [
    {
      mark: { type: "area", opacity: 0.2 },
      encoding: {
        x,
        y: { field: "lo", type: "quantitative", title: yTitle, scale: yScale },
        y2: { field: "hi" },
        color: colorEnc(scale),
      },
    },
    {
      mark: { type: "line", strokeWidth: 2 },
      encoding: { x, y: { field: "mean", type: "quantitative", title: yTitle, scale: yScale }, color: colorEnc(scale) },
    },
  ];
}

const STEP_X = { field: "step", type: "quantitative", title: "training step (optimizer updates)" };

/** Figure 2: ‖A‖_F (top) and ‖B‖_F (bottom) against step, one column per module type. */
export function normsSpec(data: BandPoint[], scale: ReturnType<typeof colorScale>, where: string): VlSpec {
  scale = subsetScale(scale, data);
  return {
    ...base(
      "LoRA factor norms ‖A‖_F and ‖B‖_F during training",
      `${where} — mean over modules of each type; line = mean, band = min–max over seeds (cf. the paper's Figure 2)`,
      data,
    ),
    facet: {
      row: { field: "factor", type: "nominal", title: null, sort: ["‖A‖_F", "‖B‖_F"] },
      column: moduleFacet(data),
    },
    spec: { width: 280, height: 170, layer: bandLayers(scale, STEP_X, "Frobenius norm (unitless)") },
    resolve: { scale: { y: "independent" }, axis: { x: "independent" } },
  };
}

/** rms(δ1)/rms(δ2) against step, log y; 1 = balanced A and B contributions. */
export function deltaRatioSpec(data: BandPoint[], scale: ReturnType<typeof colorScale>, where: string): VlSpec {
  scale = subsetScale(scale, data);
  return {
    ...base(
      "Feature-update balance rms(δ1) / rms(δ2)",
      `${where} — probe steps; geometric mean over modules; band = min–max over seeds; dashed = 1`,
      data,
    ),
    facet: { column: moduleFacet(data) },
    spec: {
      width: 300,
      height: 200,
      layer: [
        ...bandLayers(scale, STEP_X, "rms(δ1) / rms(δ2) (ratio, log scale)", { type: "log" }),
        { mark: { type: "rule", strokeDash: [4, 4], color: "#888" }, encoding: { y: { datum: 1 } } },
      ],
    },
  };
}

export function lossSpec(data: BandPoint[], scale: ReturnType<typeof colorScale>, where: string): VlSpec {
  scale = subsetScale(scale, data);
  return {
    ...base("Training loss", `${where} — mean over steps in each bucket; line = mean, band = min–max over seeds`, data),
    width: 520,
    height: 260,
    layer: bandLayers(scale, STEP_X, "cross-entropy (nats / token)"),
  };
}

/** Training loss of several models, one panel per model (natural order), each with its own y scale. */
export function lossByModelSpec(
  data: (BandPoint & { model: string })[],
  scale: ReturnType<typeof colorScale>,
  where: string,
): VlSpec {
  scale = subsetScale(scale, data);
  const models = present(data as unknown as Record<string, unknown>[], "model", naturalCompare);
  return {
    ...base(
      "Training loss",
      `${where} — one panel per model; mean over steps in each bucket; line = mean, band = min–max over seeds`,
      data,
    ),
    facet: { field: "model", type: "nominal", title: null, sort: models },
    columns: Math.min(2, models.length),
    spec: { width: 360, height: 200, layer: bandLayers(scale, STEP_X, "cross-entropy (nats / token)") },
    resolve: { scale: { y: "independent" } },
  };
}

/** Final score of one task across models: one group per model (natural order), one column of dots per optimizer. */
export function accuracyByModelSpec(
  data: (AccuracyPoint & { model: string })[],
  scale: ReturnType<typeof colorScale>,
  where: string,
  metricTitle: string,
): VlSpec {
  scale = subsetScale(scale, data);
  const models = present(data as unknown as Record<string, unknown>[], "model", naturalCompare);
  const x = {
    field: "model",
    type: "nominal",
    title: "model",
    sort: models,
    axis: { labelAngle: 0, labelLimit: 220, labelOverlap: false },
  };
  const xOffset = { field: "series", type: "nominal", sort: scale.domain, scale: { domain: scale.domain } };
  const y = { field: "value", type: "quantitative", title: metricTitle, scale: { zero: false } };
  return {
    ...base(
      "Final accuracy by model and optimizer",
      `${where} — small dots = seeds, large dot = mean over seeds, bar = mean ± std`,
      data,
    ),
    width: Math.max(360, models.length * (22 * scale.domain.length + 40)),
    height: 260,
    layer: [
      { mark: { type: "errorbar", extent: "stdev", ticks: true }, encoding: { x, xOffset, y, color: colorEnc(scale) } },
      { mark: { type: "point", opacity: 0.55, size: 30 }, encoding: { x, xOffset, y, color: colorEnc(scale) } },
      {
        mark: { type: "point", filled: true, size: 90 },
        encoding: { x, xOffset, y: { ...y, aggregate: "mean" }, color: colorEnc(scale) },
      },
    ],
    config: { ...CONFIG, legend: { ...CONFIG.legend, symbolType: "circle" } },
  };
}

/** Stop step per layer × module type for Stable-LoRA (grey = never stopped). */
export function stopHeatmapSpec(data: StopCell[], where: string, seriesOrder: readonly string[] = []): VlSpec {
  const layers = new Set(data.map((d) => d.layer)).size;
  const modules = new Set(data.map((d) => d.module)).size;
  const cellH = Math.max(12, Math.min(24, Math.floor(420 / Math.max(1, layers))));
  const withText = layers * modules <= 200;
  const maxStep = Math.max(1, ...data.map((d) => d.stopStep ?? 0));
  const enc = {
    x: {
      field: "module",
      type: "nominal",
      title: "module type",
      axis: { labelAngle: 0 },
      sort: present(data as unknown as Record<string, unknown>[], "module", compareModuleTypes),
    },
    y: { field: "layer", type: "ordinal", title: "layer", sort: "ascending" },
  };
  const bySeriesOrder = (a: string, b: string) =>
    rankIn(seriesOrder, a) - rankIn(seriesOrder, b) || naturalCompare(a, b);
  return {
    ...base(
      "Stable-LoRA stop step per layer and module",
      `${where} — step at which ‖A‖/n < ‖B‖/m first held; median over seeds; grey = never stopped`,
      data.map((d) => ({ ...d, label: d.stopStep === null ? "never" : String(Math.round(d.stopStep)) })),
    ),
    facet: {
      column: {
        field: "series",
        type: "nominal",
        title: null,
        sort: present(data as unknown as Record<string, unknown>[], "series", bySeriesOrder),
      },
    },
    spec: {
      width: Math.max(120, 70 * modules),
      height: cellH * layers,
      encoding: enc,
      layer: [
        { transform: [{ filter: "datum.stopStep === null" }], mark: { type: "rect", color: "#d9d9d9" } },
        {
          transform: [{ filter: "datum.stopStep !== null" }],
          mark: { type: "rect" },
          encoding: {
            color: {
              field: "stopStep",
              type: "quantitative",
              title: "stop step",
              scale: { scheme: "viridis", reverse: true, domain: [0, maxStep] },
            },
          },
        },
        ...(withText
          ? [
              {
                mark: { type: "text", fontSize: 10 },
                encoding: {
                  text: { field: "label" },
                  color: {
                    condition: {
                      test: `datum.stopStep !== null && datum.stopStep > ${maxStep * 0.55}`,
                      value: "white",
                    },
                    value: "black",
                  },
                },
              },
            ]
          : []),
      ],
    },
  };
}

/** ΔW = s·B·A singular values σ_i, log y. */
export function spectrumSpec(data: BandPoint[], scale: ReturnType<typeof colorScale>, where: string): VlSpec {
  scale = subsetScale(scale, data);
  const x = {
    field: "step",
    type: "quantitative",
    title: "index i (descending)",
    axis: { tickMinStep: 1, format: "d" },
  };
  return {
    ...base(
      "Singular values of ΔW = s·B·A after training",
      `${where} — mean over modules of each type; band = min–max over seeds`,
      data,
    ),
    facet: { column: moduleFacet(data) },
    spec: {
      width: 260,
      height: 200,
      layer: [
        ...bandLayers(scale, x, "σ_i (log scale)", { type: "log" }),
        {
          mark: { type: "point", filled: true, size: 30 },
          encoding: { x, y: { field: "mean", type: "quantitative" }, color: colorEnc(scale) },
        },
      ],
    },
  };
}

/** Final accuracy per optimizer and task: seeds as dots, mean as a large dot, error bar = mean ± std. */
export function accuracySpec(
  data: AccuracyPoint[],
  scale: ReturnType<typeof colorScale>,
  where: string,
  metricTitle: string,
): VlSpec {
  scale = subsetScale(scale, data);
  const x = {
    field: "series",
    type: "nominal",
    title: null,
    axis: { labels: false, ticks: false },
    scale: { domain: scale.domain.filter((d) => data.some((p) => p.series === d)) },
  };
  const y = { field: "value", type: "quantitative", title: metricTitle, scale: { zero: false } };
  return {
    ...base("Final accuracy by optimizer", `${where} — small dots = seeds, large dot = mean, bar = mean ± std`, data),
    facet: { field: "task", type: "nominal", title: null, sort: sortTasks([...new Set(data.map((d) => d.task))]) },
    columns: 3,
    spec: {
      width: Math.max(160, 40 * new Set(data.map((d) => d.series)).size),
      height: 200,
      layer: [
        { mark: { type: "errorbar", extent: "stdev", ticks: true }, encoding: { x, y, color: colorEnc(scale) } },
        {
          mark: { type: "point", opacity: 0.55, size: 30 },
          encoding: { x, y, color: colorEnc(scale), xOffset: { field: "seed", type: "nominal" } },
        },
        {
          mark: { type: "point", filled: true, size: 90 },
          encoding: { x, y: { ...y, aggregate: "mean" }, color: colorEnc(scale) },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  };
}

/** Accuracy against training steps (GSM8K after MetaMathQA, or periodic evaluations). */
export function accuracyVsStepsSpec(
  data: AccuracyPoint[],
  scale: ReturnType<typeof colorScale>,
  where: string,
  metricTitle: string,
): VlSpec {
  scale = subsetScale(scale, data);
  // Series are shifted sideways by up to ±1.5% of the step range so their error bars do not overlap.
  const maxStep = Math.max(1, ...data.map((d) => d.step));
  const k = scale.domain.length;
  const jittered = data.map((d) => ({
    ...d,
    x: d.step + (scale.domain.indexOf(d.series) - (k - 1) / 2) * (k > 1 ? (0.03 * maxStep) / (k - 1) : 0),
  }));
  const x = { field: "x", type: "quantitative", title: "training steps" };
  const y = { field: "value", type: "quantitative", title: metricTitle, scale: { zero: false } };
  return {
    ...base(
      "Accuracy against training steps",
      `${where} — line = mean over seeds, bar = mean ± std (series shifted slightly sideways)`,
      jittered,
    ),
    facet: { field: "task", type: "nominal", title: null, sort: sortTasks([...new Set(data.map((d) => d.task))]) },
    columns: 3,
    spec: {
      width: 300,
      height: 210,
      layer: [
        { mark: { type: "errorbar", extent: "stdev", ticks: true }, encoding: { x, y, color: colorEnc(scale) } },
        {
          mark: { type: "line", strokeWidth: 2, point: { filled: true, size: 50 } },
          encoding: { x, y: { ...y, aggregate: "mean" }, color: colorEnc(scale) },
        },
      ],
    },
    resolve: { scale: { y: "independent" } },
  };
}

/**
 * Quickstart: rms(δ_i) against width n, log–log, with least-squares lines; the slope estimates γ[δ_i]. One panel per
 * optimizer (in `seriesOrder`), the fitted slopes in the panel's header so no label sits on the data. Terms are
 * told apart by grey level and marker shape (the optimizer colours stay reserved for optimizers).
 * long: one vega-lite spec literal (layers, scales, legends), read top to bottom like the chart.
 */
export function widthSpec(
  points: WidthPoint[],
  fits: WidthFit[],
  where: string,
  seriesOrder: readonly string[] = [],
): VlSpec {
  const terms = ["δ1", "δ2", "δ3", "ΔY"].filter((t) => points.some((p) => p.term === t));
  const termColors = { domain: terms, range: ["#111111", "#666666", "#a6a6a6", "#7b3294"].slice(0, terms.length) };
  const termShapes = { domain: terms, range: ["circle", "square", "triangle-up", "diamond"].slice(0, terms.length) };
  const widths = points.map((p) => p.width);
  const lo = Math.min(...widths);
  const hi = Math.max(...widths);
  // Panels: optimizers in the report's order, then by learning-rate exponent e (η fixed, n^−½, n^−1).
  const meta = new Map([...points, ...fits].map((p) => [p.series, { optimizer: p.optimizer, e: p.e }]));
  const orderOf = (x: string) =>
    rankIn(
      seriesOrder.map((o) => o.split(",")[0]!),
      x.split(",")[0]!,
    );
  const series = [...meta.keys()].sort(
    (a, b) =>
      orderOf(a) - orderOf(b) ||
      optimizerRank(meta.get(a)!.optimizer) - optimizerRank(meta.get(b)!.optimizer) ||
      meta.get(a)!.e - meta.get(b)!.e ||
      naturalCompare(a, b),
  );
  const panel = new Map(
    series.map((s) => {
      const gs = terms.flatMap((t) => {
        const f = fits.find((x) => x.series === s && x.term === t);
        return f ? [`${t} ${f.gamma >= 0 ? "+" : "−"}${Math.abs(f.gamma).toFixed(2)}`] : [];
      });
      return [s, gs.length ? `${s}|γ̂: ${gs.join(" · ")}` : s] as const;
    }),
  );
  const lines = fits.flatMap((f) =>
    [lo, hi].map((w) => ({
      series: f.series,
      panel: panel.get(f.series)!,
      term: f.term,
      width: w,
      value: 10 ** (f.intercept + f.gamma * Math.log10(w)),
      kind: "fit",
    })),
  );
  const x = {
    field: "width",
    type: "quantitative",
    title: "width n (hidden size, log scale)",
    scale: { type: "log", nice: false, padding: 12 },
    axis: { values: [...new Set(widths)].sort((a, b) => a - b), format: "d" },
  };
  const y = { field: "value", type: "quantitative", title: "rms of δ term (log scale)", scale: { type: "log" } };
  const color = { field: "term", type: "nominal", scale: termColors, title: "term" };
  const shape = { field: "term", type: "nominal", scale: termShapes, title: "term" };
  return {
    ...base(
      "Feature-update terms against width (γ estimates)",
      `${where} — each marker = one run (geometric mean over modules and probe steps); dashed = least-squares fit of log rms on log n; its slope γ̂ is in each panel's header (0 = stable in width)`,
      [],
    ),
    data: { values: [...points.map((p) => ({ ...p, panel: panel.get(p.series)!, kind: "run" })), ...lines] },
    facet: {
      field: "panel",
      type: "nominal",
      title: null,
      sort: series.map((s) => panel.get(s)!),
      header: { labelExpr: "split(datum.value, '|')", labelFontWeight: "bold", labelFontSize: 12, labelLineHeight: 16 },
    },
    columns: Math.min(3, series.length),
    spec: {
      width: 300,
      height: 240,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'fit'" }],
          mark: { type: "line", strokeDash: [5, 3], strokeWidth: 1.5 },
          encoding: { x, y, color, detail: { field: "term" } },
        },
        {
          transform: [{ filter: "datum.kind === 'run'" }],
          mark: { type: "point", filled: true, size: 60, opacity: 1 },
          encoding: { x, y, color, shape },
        },
      ],
    },
    config: { ...CONFIG, legend: { ...CONFIG.legend, symbolType: "circle" } },
  };
}

export interface OverheadDatum {
  series: string;
  optimizer: string;
  model: string;
  quantity: string;
  pct: number;
  paper: number | null;
}

/**
 * Step time and peak memory relative to AdamW (%), paper values as diamonds: one group of bars per model (models in
 * natural order), one bar per optimizer within a group (in the optimizer order), one panel per quantity.
 */
export function overheadSpec(data: OverheadDatum[], scale: ReturnType<typeof colorScale>, where: string): VlSpec {
  scale = subsetScale(scale, data);
  const models = present(data as unknown as Record<string, unknown>[], "model", naturalCompare);
  const x = {
    field: "model",
    type: "nominal",
    title: models.length > 1 ? "model" : null,
    sort: models,
    axis: { labelAngle: 0, labelLimit: 200, labelOverlap: false },
  };
  const xOffset = { field: "series", type: "nominal", sort: scale.domain, scale: { domain: scale.domain } };
  const quantities = ["median step time", "peak RSS"].filter((q) => data.some((d) => d.quantity === q));
  const hasPaper = data.some((d) => d.paper !== null);
  return {
    ...base(
      "Overhead relative to AdamW",
      `${where} — bars = ours (AdamW = 0)${hasPaper ? "; ◆ = paper (Qwen2-0.5B on HellaSwag, total training time)" : ""}`,
      data,
    ),
    facet: { row: { field: "quantity", type: "nominal", title: null, sort: quantities } },
    spec: {
      width: Math.max(260, models.length * (24 * scale.domain.length + 30)),
      height: 180,
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x,
            xOffset,
            y: { field: "pct", type: "quantitative", title: "change vs AdamW (%)", axis: { format: "+.0f" } },
            color: { ...colorEnc(scale), legend: { symbolType: "square" } },
          },
        },
        {
          transform: [{ filter: "datum.paper !== null" }],
          mark: { type: "point", shape: "diamond", filled: true, size: 70, color: "black" },
          encoding: { x, xOffset, y: { field: "paper", type: "quantitative" } },
        },
        { mark: { type: "rule", color: "#666" }, encoding: { y: { datum: 0 } } },
      ],
    },
    resolve: { scale: { y: "independent" } },
  };
}

function rankIn(order: readonly string[], x: string): number {
  const i = order.indexOf(x);
  return i < 0 ? order.length : i;
}
