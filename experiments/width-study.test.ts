// The width-study experiment: what it runs (≥ 5 widths up to 1024, η = η0·(n/64)^(−e) for e ∈ {0, ½, 1}, AdamW and
// Stable-LoRA, 3 seeds, PEFT init, s fixed, enough steps for the stop condition) and that its --dry-run estimate fits
// the 30-minute budget. The estimate itself is calibrated in width-scaling.ts; `sweep width-study --dry-run` prints it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { expandExperiment } from "../src/sweep.ts";
import { loraScaling } from "../src/config.ts";
import { widthStudy, WIDTH_STUDY_BUDGET_SECONDS, WIDTH_STUDY_WIDTHS } from "./width-study.ts";
import { scaledLr, widthCellSeconds, widthOf } from "./width-scaling.ts";
import { runSweep } from "../src/cli/sweep.ts";
import { EXPERIMENTS } from "./index.ts";
import { captureConsole } from "../src/testing/capture-console.ts";

test("width-study: widths 64..1024, η ∝ n^−e for e ∈ {0, ½, 1}, AdamW and Stable-LoRA, 3 seeds, s fixed", () => {
  const cells = expandExperiment(widthStudy);
  assert.ok(WIDTH_STUDY_WIDTHS.length >= 5 && Math.max(...WIDTH_STUDY_WIDTHS) >= 1024);
  assert.deepEqual(
    [...new Set(cells.map((c) => widthOf(c.config.model)))].sort((a, b) => a - b),
    [...WIDTH_STUDY_WIDTHS],
  );
  assert.deepEqual([...new Set(cells.map((c) => c.config.optimizer.name))].sort(), ["adamw", "stable-lora"]);
  assert.deepEqual([...new Set(cells.map((c) => c.config.seed))], [0, 1, 2]);
  assert.equal(new Set(cells.map((c) => loraScaling(c.config.lora))).size, 1, "s = alpha/r is the same at every width");
  for (const n of WIDTH_STUDY_WIDTHS) {
    const lrs = new Set(
      cells
        .filter((c) => widthOf(c.config.model) === n && c.config.optimizer.name === "adamw")
        .map((c) => c.config.optimizer.lr),
    );
    assert.deepEqual(
      [...lrs].sort(),
      [...new Set([0, 0.5, 1].map((e) => scaledLr(2e-3, 64, n, e)))].sort(),
      `width ${n}`,
    );
  }
  // At n0 every exponent gives η0: one cell per optimizer and seed there, three elsewhere.
  assert.equal(cells.length, (1 + 3 * (WIDTH_STUDY_WIDTHS.length - 1)) * 2 * 3);
  const c = cells.find((x) => x.config.optimizer.name === "stable-lora")!.config;
  assert.ok(c.optimizer.name === "stable-lora");
  assert.ok(
    Math.pow(1 - c.optimizer.lambda, c.train.steps) < 0.1,
    "the shrink alone takes A under 10% of A0 within the run (the stop can fire)",
  );
  assert.ok(
    c.stability.probeEvery > 0 && c.train.steps / c.stability.probeEvery >= 10,
    "δ probes in the second half of the run",
  );
});

test("--set optimizer.lr=X gives one fixed-lr cell per model, optimizer and seed", () => {
  const cells = expandExperiment(widthStudy, { overrides: { optimizer: { lr: 3e-3 } } });
  assert.equal(cells.length, WIDTH_STUDY_WIDTHS.length * 2 * 3);
  assert.ok(cells.every((c) => c.config.optimizer.lr === 3e-3));
});

test("width-study --dry-run: the estimated time fits the 30-minute budget", async () => {
  const total = expandExperiment(widthStudy).reduce((s, c) => s + widthCellSeconds(c.config), 0);
  assert.ok(total <= WIDTH_STUDY_BUDGET_SECONDS, `estimated ${Math.round(total)} s > ${WIDTH_STUDY_BUDGET_SECONDS} s`);
  assert.ok(
    total >= WIDTH_STUDY_BUDGET_SECONDS / 3,
    `estimated ${Math.round(total)} s: the study uses the budget it is given`,
  );
  const { value: code, out } = await captureConsole(() =>
    runSweep(
      { experiment: "width-study", "dry-run": true, backend: "auto", "results-dir": "/nonexistent-results" },
      EXPERIMENTS,
    ),
  );
  assert.equal(code, 0);
  const m = /width-study: 78 cells \(78 new\); estimated (?:(\d+)h)?(\d+)m/.exec(out);
  assert.ok(m, out.slice(-300));
  assert.ok(Number(m[1] ?? 0) * 60 + Number(m[2]) <= 30, `the printed estimate fits 30 minutes: ${m[0]}`);
});
