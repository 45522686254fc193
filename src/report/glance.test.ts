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

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "results");

function glanceOf(experiment: string) {
  const axes = describeRuns(loadExperiment(FIXTURE, experiment).runs);
  const blocks = buildBlocks(axes);
  const perModel = pairedVsAdamw(blocks);
  const runs = axes.runs.filter((r) => r.run.status !== "invalid");
  return { axes, lines: glanceLines({ blocks, pairs: [...perModel, ...pooledPairs(perModel)], stability: stabilityRows(blocks), width: widthStudy(runs), runs }) };
}

test("glance on the one-model fixture: missing runs first, best row, paired Δ with CI and verdict, stop condition", () => {
  const { lines } = glanceOf("fixture");
  assert.equal(lines[0], '12 of 14 runs have finished successfully; the numbers below use those only (the rest are listed under "What is missing").');
  assert.equal(lines[1], "Highest mean accuracy averaged over 2 tasks (%, mean over 2 seeds): Stable-LoRA 56.23.", "golden accuracy-mean: Stable-LoRA average 56.23");
  assert.equal(lines[2], "Stable-LoRA − AdamW, paired by model, task and seed (percentage points): +3.53, 95% CI [+2.13, +4.92] (n=4, better).", "golden paired-vs-adamw row");
  assert.match(lines[3]!, /^Stable-LoRA's stop condition ‖A‖\/n < ‖B‖\/m held in 20 of 20 modules \(100%\); median stop step 17 of 40 training steps\.$/);
  assert.equal(lines.length, 4, "no width sentence without a width study");
});

test("glance on the width fixture: per model in natural order, pooled over models, γ̂ for AdamW and Stable-LoRA", () => {
  const { lines, axes } = glanceOf("fixture-width");
  const [best, paired, stop, gamma] = lines;
  assert.equal(best, "Highest mean accuracy on arc_easy (%, mean over 1 seed): random:llama:d=64:L=1:r=8: Stable-LoRA 64.30; random:llama:d=128:L=1:r=8: Stable-LoRA 63.30; random:llama:d=256:L=1:r=8: Stable-LoRA 63.20.");
  // Pairs 1.10, 3.20, 2.10 (golden paired-vs-adamw) → mean 2.13; CI from t(0.975, 2).
  assert.match(paired!, /random:llama:d=64:L=1:r=8 \+1\.10 \(n=1\); random:llama:d=128:L=1:r=8 \+3\.20 \(n=1\); random:llama:d=256:L=1:r=8 \+2\.10 \(n=1\); all 3 models pooled \+2\.13, 95% CI \[−0\.48, \+4\.74\] \(n=3, not significant\)\.$/);
  assert.match(stop!, /held in 6 of 6 modules \(100%; random:llama:d=64:L=1:r=8 100%, random:llama:d=128:L=1:r=8 100%, random:llama:d=256:L=1:r=8 100%\); median stop step 19 of 40 training steps\.$/);
  assert.match(gamma!, /^Fitted width exponents γ̂ \(slope of log rms\(δ\) on log n over n = 64, 128, 256; 0 = constant in width\): AdamW δ1 \+0\.59, δ2 −0\.06, δ3 \+0\.01; Stable-LoRA δ1 \+0\.50, δ2 \+0\.04, δ3 \+0\.00\.$/, "golden width-gamma (rounded to 2 digits)");
  const g = glanceNormRuns(axes.runs);
  assert.ok(g);
  assert.equal(g.model, "random:llama:d=256:L=1:r=8", "the widest model");
  assert.deepEqual(g.runs.map((r) => r.optimizer).sort(), ["adamw", "stable-lora"]);
});
