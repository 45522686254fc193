// The default experiment end to end, cut down: the real `quickstart` definition through runSweep (two widths, the
// five optimizers and the extra η ∝ d^−1 cells, one seed, 6 steps, 20 eval docs), then its report
// (src/report/render.ts). Checks that every cell ends in
// success with the stability signals the report needs, and that the report's page, tables and figures are written.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runSweep } from "../src/cli/sweep.ts";
import { readJsonl, type MetricsRecord, type RunSummary } from "../src/results.ts";
import { expandExperiment } from "../src/sweep.ts";
import { quickstart, QUICKSTART_WIDTHS } from "./quickstart.ts";
import { EXPERIMENTS } from "./index.ts";
import { captureConsole } from "../src/testing/capture-console.ts";

test("quickstart expands to widths × optimizers × lr scalings × seeds, offline", () => {
  const cells = expandExperiment(quickstart);
  // 5 optimizers at η ∝ d^−½ on every width; AdamW and Stable-LoRA also at η ∝ d^−1 (the same cell at d = 64); 2 seeds.
  assert.equal(cells.length, (QUICKSTART_WIDTHS.length * 5 + (QUICKSTART_WIDTHS.length - 1) * 2) * 2);
  const d512 = cells.filter((c) => c.config.model === "random:d=512,L=2" && c.config.seed === 0);
  assert.deepEqual(
    d512
      .filter((c) => c.config.optimizer.name === "adamw")
      .map((c) => c.config.optimizer.lr)
      .sort(),
    [6.25e-4, 1.77e-3],
    "5e-3·8^−1, 5e-3·8^−½",
  );
  assert.ok(
    d512.filter((c) => c.config.optimizer.name === "lora-plus").every((c) => c.config.optimizer.lr === 1.77e-3),
  );
  assert.ok(
    cells.every((c) => c.config.model.startsWith("random:") && c.config.task === "synthetic"),
    "no download, no ../shared",
  );
  assert.equal(new Set(cells.map((c) => c.config.optimizer.name)).size, 5);
});

test("a tiny quickstart sweep runs end to end and writes its report", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "quickstart-test-"));
  const results = path.join(tmp, "results"),
    reports = path.join(tmp, "reports");
  const { value: code, err } = await captureConsole(() =>
    runSweep(
      {
        experiment: "quickstart",
        // The same key twice selects two values (model ids hold commas, so "model=a,b" cannot).
        only: ["model=random:d=64,L=2", "model=random:d=128,L=2", "seed=0"],
        set: ["train.steps=6", "train.batchSize=4", "eval.limit=20", "stability.probeEvery=2"],
        backend: "wasm",
        "results-dir": results,
        "reports-dir": reports,
        "data-dir": path.join(tmp, "datasets"),
      },
      EXPERIMENTS,
    ),
  );
  assert.equal(code, 0, err);
  const runs = fs.readdirSync(path.join(results, "quickstart")).filter((d) => !d.startsWith("."));
  assert.equal(runs.length, 12, runs.join("\n"));
  for (const id of runs) {
    const dir = path.join(results, "quickstart", id);
    const s = JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8")) as RunSummary;
    assert.equal(s.status, "success", `${id}: ${s.error}`);
    assert.ok(s.final.synthetic && s.final.synthetic["acc,none"]! >= 0, id);
    assert.equal(s.model?.hiddenSize, /d=128/.test(id) ? 128 : 64);
    const rows = readJsonl<MetricsRecord>(path.join(dir, "metrics.jsonl")).rows;
    assert.equal(rows.length, 6);
    assert.equal(rows.filter((r) => r.delta).length, 3, `${id}: δ on probe steps 2, 4, 6`);
    if (id.includes("--stable-lora--")) assert.ok(s.stability?.stopSteps, `${id}: stop steps`);
  }
  // The report: page, README, tables and figures, with the width study across the two widths.
  const rd = path.join(reports, "quickstart");
  assert.match(err, /report: .*index\.html/);
  for (const f of [
    "index.html",
    "README.md",
    "claims.json",
    "tables/claims.md",
    "tables/runs.md",
    "tables/stability.md",
    "tables/width-gamma.md",
  ])
    assert.ok(fs.existsSync(path.join(rd, f)), `report has ${f}`);
  const html = fs.readFileSync(path.join(rd, "index.html"), "utf8");
  for (const id of runs)
    assert.ok(
      html.includes(id) || fs.readFileSync(path.join(rd, "tables/runs.md"), "utf8").includes(id),
      `${id} listed`,
    );
  const plots = fs.readdirSync(path.join(rd, "plots"));
  assert.ok(
    plots.some((p) => p.startsWith("norms--") && p.endsWith(".svg")),
    plots.join(", "),
  );
  fs.rmSync(tmp, { recursive: true, force: true });
});
