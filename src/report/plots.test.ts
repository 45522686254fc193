// Figure specs follow the report's orders: legend and facets in the optimizer order (not alphabetical), models in
// natural order, module facets in decoder order, and the width plot keeps its γ̂ values off the data (panel header).
import { test } from "node:test";
import assert from "node:assert/strict";
import { colorScale, OPTIMIZER_COLORS, overheadSpec, widthSpec, normsSpec } from "./plots.ts";
import type { BandPoint, WidthFit, WidthPoint } from "./series.ts";

const LABELS: [string, string][] = [
  ["stable-lora", "Stable-LoRA"],
  ["lora-rite", "LoRA-RITE"],
  ["adamw", "AdamW"],
  ["riemannian", "Riemannian"],
  ["lora-plus", "LoRA+"],
];

test("colorScale: optimizer order whatever the input order; each optimizer keeps its colour", () => {
  const s = colorScale(LABELS.map(([optimizer, label]) => ({ optimizer, label })));
  assert.deepEqual(s.domain, ["AdamW", "LoRA+", "Riemannian", "LoRA-RITE", "Stable-LoRA"]);
  assert.deepEqual(
    s.range,
    ["adamw", "lora-plus", "riemannian", "lora-rite", "stable-lora"].map((o) => OPTIMIZER_COLORS[o]),
  );
});

test("widthSpec: panels in the optimizer order, γ̂ in the panel header, no text marks on the data", () => {
  const scale = colorScale(LABELS.map(([optimizer, label]) => ({ optimizer, label })));
  const points: WidthPoint[] = [];
  const fits: WidthFit[] = [];
  for (const [optimizer, series] of LABELS) {
    for (const width of [64, 128])
      points.push({ series, optimizer, e: 0, term: "δ1", width, seed: 0, value: width / 1000 });
    fits.push({
      series,
      optimizer,
      e: 0,
      term: "δ1",
      gamma: optimizer === "adamw" ? -0.5 : 1,
      intercept: -3,
      points: 2,
      widths: 2,
      lo: NaN,
      hi: NaN,
      ciMethod: "none",
      boot: [],
    });
  }
  const spec = widthSpec(points, fits, "test", scale.domain) as {
    facet: { sort: string[] };
    spec: { layer: { mark: { type: string } }[] };
  };
  assert.deepEqual(
    spec.facet.sort.map((p) => p.split("|")[0]),
    scale.domain,
  );
  assert.equal(spec.facet.sort[0], "AdamW|γ̂: δ1 −0.50");
  assert.ok(
    spec.spec.layer.every((l) => l.mark.type !== "text"),
    "no text layer over the data",
  );
});

test("overheadSpec and normsSpec: models in natural order, module facets in decoder order", () => {
  const scale = colorScale(LABELS.map(([optimizer, label]) => ({ optimizer, label })));
  const od = ["random:d=512", "random:d=64", "random:d=128"].map((model) => ({
    series: "Stable-LoRA",
    optimizer: "stable-lora",
    model,
    quantity: "median step time",
    pct: 1,
    paper: null,
  }));
  const o = overheadSpec(od, scale, "x") as { spec: { layer: { encoding: { x?: { sort: string[] } } }[] } };
  assert.deepEqual(o.spec.layer[0]!.encoding.x!.sort, ["random:d=64", "random:d=128", "random:d=512"]);
  const band = (module: string): BandPoint => ({
    series: "AdamW",
    optimizer: "adamw",
    module,
    factor: "‖A‖_F",
    step: 1,
    mean: 1,
    lo: 1,
    hi: 1,
    n: 1,
  });
  const n = normsSpec(["v_proj", "down_proj", "q_proj"].map(band), scale, "x") as {
    facet: { column: { sort: string[] } };
  };
  assert.deepEqual(n.facet.column.sort, ["q_proj", "v_proj", "down_proj"]);
});
