// "At a glance" sentences on the committed fixtures (src/report/fixtures/results): the numbers must be the ones in
// the golden tables (paired Δ and CI, best row per model, stop condition), models in natural order, missing runs
// said first; and the Figure 2 panel picks the widest model with both AdamW and Stable-LoRA.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadExperiment } from "./load.ts";
import { describeRuns } from "./axes.ts";
import { buildBlocks, pairedVsAdamw, pooledPairs, stabilityRows } from "./aggregate.ts";
import { widthStudy } from "./series.ts";
import { glanceLines, glanceNormRuns } from "./glance.ts";
import { c5Context, claimRuns, evaluateClaims } from "./claims.ts";

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "results");

function glanceOf(experiment: string) {
  const axes = describeRuns(loadExperiment(FIXTURE, experiment).runs);
  const blocks = buildBlocks(axes);
  const perModel = pairedVsAdamw(blocks);
  const runs = axes.runs.filter((r) => r.run.status !== "invalid");
  const pairs = [...perModel, ...pooledPairs(perModel)];
  const width = widthStudy(runs);
  const claims = evaluateClaims({
    runs: claimRuns(runs),
    fits: width.fits,
    c5: { pairs, ...c5Context(blocks, pairs) },
  });
  return { axes, lines: glanceLines({ blocks, pairs, stability: stabilityRows(blocks), width, runs, claims }) };
}

test("glance on the one-model fixture: claims first, missing runs, best row, paired Δ with CI and verdict, stop condition", () => {
  const { lines } = glanceOf("fixture");
  assert.equal(
    lines[0],
    "Paper's claims vs this data (computed verdicts; details in the first table): C1 supported; C2 supported; C3 supported; C5 supported; C6 supported.",
    "golden claims.md",
  );
  assert.equal(
    lines[1],
    '12 of 14 runs have finished successfully; the numbers below use those only (the rest are listed under "What is missing").',
  );
  assert.equal(
    lines[2],
    "Highest mean accuracy averaged over 2 tasks (%, mean over 2 seeds): Stable-LoRA 51.73.",
    "golden accuracy-mean: Stable-LoRA average 51.73",
  );
  assert.equal(
    lines[3],
    "Stable-LoRA − AdamW, paired by model, task and seed (percentage points): +3.53, 95% CI [+2.13, +4.92] (n=4, better).",
    "golden paired-vs-adamw row",
  );
  assert.match(
    lines[4]!,
    /^Stable-LoRA's stop condition ‖A‖\/n < ‖B‖\/m held in 20 of 20 modules \(100%\); median stop step 17 of 40 training steps\.$/,
  );
  assert.equal(lines.length, 5, "no width sentence without a width study");
});

test("glance on the width fixture: claims with the width verdicts, per model in natural order, γ̂ per lr exponent", () => {
  const { lines, axes } = glanceOf("fixture-width");
  const [claims, best, paired, , stop, gamma] = lines;
  assert.match(
    claims!,
    /C3 contradicted; C4a AdamW inconclusive; C4a Stable-LoRA supported; C4b supported; /,
    "golden claims.md (C4b: the fixture's AdamW δ1 outgrows δ2 at η ∝ n^−1)",
  );
  assert.equal(
    best,
    "Highest mean accuracy on arc_easy (%, mean over 2 seeds): random:llama:d=64:L=1:r=8: Stable-LoRA, η ∝ n^−0.5 62.85; random:llama:d=128:L=1:r=8: Stable-LoRA, η ∝ n^−0.5 63.45; random:llama:d=256:L=1:r=8: Stable-LoRA, η ∝ n^−1 64.65.",
  );
  assert.match(
    paired!,
    /all 3 models pooled \+2\.15, 95% CI \[\+0\.50, \+3\.80\] \(n=6, better\)\.$/,
    "golden paired-vs-adamw",
  );
  assert.match(stop!, /η ∝ n\^−0\.5: 12 of 12 modules \(100%.*median stop step 18 of 40 training steps/);
  // The fixture draws δ1 ∝ n^0.3 under AdamW at e = ½ (make-fixture.ts WIDTH_GAMMA); golden width-gamma.md.
  assert.match(
    gamma!,
    /^Fitted width exponents γ̂ \(slope of log rms\(δ\) on log n over n = 64, 128, 256; 0 = constant in width\): AdamW, η ∝ n\^−0\.5 δ1 \+0\.28, δ2 \+0\.01/,
  );
  const g = glanceNormRuns(axes.runs);
  assert.ok(g);
  assert.equal(g.model, "random:llama:d=256:L=1:r=8", "the widest model");
  assert.deepEqual([...new Set(g.runs.map((r) => r.optimizer))].sort(), ["adamw", "stable-lora"]);
});
