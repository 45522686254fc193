// The whole reporter on the committed fixture (src/report/fixtures/results, made by make-fixture.ts): golden
// Markdown tables, every figure type rendered (SVG non-empty, PNG of the right size), and bad input (torn lines,
// unreadable config, runs without summary, empty or missing experiments) rendering with warnings instead of failing.
// Regenerate the golden tables after an intended change: UPDATE_GOLDEN=1 npx tsx --test src/report/report.golden.test.ts
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { renderReport } from "./render.ts";
import { makeFixture } from "./fixtures/make-fixture.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, "fixtures", "results");
const GOLDEN = path.join(here, "fixtures", "golden");
const NOW = new Date("2026-03-10T12:00:00Z");

function tmp(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `lora-lab-report-${name}-`));
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

test("the committed fixture is what make-fixture.ts writes (deterministic, seeded)", () => {
  const out = tmp("fixture");
  makeFixture(out);
  const files = listFiles(FIXTURE);
  assert.deepEqual(listFiles(out), files);
  for (const f of files)
    assert.equal(
      fs.readFileSync(path.join(out, f), "utf8"),
      fs.readFileSync(path.join(FIXTURE, f), "utf8"),
      `${f} differs: rerun npx tsx src/report/fixtures/make-fixture.ts`,
    );
  const bytes = files.reduce((a, f) => a + fs.statSync(path.join(FIXTURE, f)).size, 0);
  assert.ok(bytes < 300_000, `fixture is ${bytes} bytes; keep it under 300 KB`);
});

for (const experiment of ["fixture", "fixture-width"]) {
  test(`golden tables: ${experiment}`, async () => {
    const reports = tmp("golden");
    const res = await renderReport({ experiment, resultsDir: FIXTURE, reportsDir: reports, noPlots: true, now: NOW });
    const tablesDir = path.join(res.dir, "tables");
    const golden = path.join(GOLDEN, experiment);
    // runs.md links to the run folders by a path relative to the report folder (machine-specific): not golden.
    const made = fs
      .readdirSync(tablesDir)
      .filter((f) => f.endsWith(".md") && f !== "runs.md")
      .sort();
    if (process.env.UPDATE_GOLDEN === "1") {
      fs.rmSync(golden, { recursive: true, force: true });
      fs.mkdirSync(golden, { recursive: true });
      for (const f of made) fs.copyFileSync(path.join(tablesDir, f), path.join(golden, f));
    }
    assert.deepEqual(made, fs.readdirSync(golden).sort(), "the same set of tables");
    for (const f of made)
      assert.equal(
        fs.readFileSync(path.join(tablesDir, f), "utf8"),
        fs.readFileSync(path.join(golden, f), "utf8"),
        `${experiment}/${f} differs from the golden file (UPDATE_GOLDEN=1 to accept)`,
      );
  });
}

test("fixture report: numbers, statuses and warnings", async () => {
  const res = await renderReport({
    experiment: "fixture",
    resultsDir: FIXTURE,
    reportsDir: tmp("fx"),
    noPlots: true,
    now: NOW,
  });
  const md = fs.readFileSync(path.join(res.dir, "tables", "accuracy-mean--qwen2-0.5b.md"), "utf8");
  assert.match(md, /\| Riemannian \| — \| 1 failed \| incomplete \|/, "a failed run is shown as failed, not as 0");
  assert.match(md, /1 running/, "the run without summary.json is counted as running");
  assert.ok(
    res.warnings.some((w) => /metrics\.jsonl: skipped 1 unparsable line/.test(w)),
    "the torn metrics line is reported",
  );
  assert.ok(res.warnings.some((w) => /no summary\.json/.test(w)));
  assert.ok(
    res.warnings.some((w) => /failed — RangeError/.test(w)),
    "the failed run's error is listed",
  );
  const csv = fs.readFileSync(path.join(res.dir, "tables", "accuracy-mean--qwen2-0.5b.csv"), "utf8");
  assert.match(csv.split("\n")[0]!, /^model,row,optimizer,task,metric,mean,std,n,best/);
  const html = fs.readFileSync(path.join(res.dir, "index.html"), "utf8");
  assert.match(html, /What is missing or could not be read/);
});

test("every figure type renders to SVG and a PNG of the right size", async () => {
  const reports = tmp("plots");
  const names: string[] = [];
  for (const experiment of ["fixture", "fixture-width"]) {
    const res = await renderReport({ experiment, resultsDir: FIXTURE, reportsDir: reports, now: NOW });
    assert.deepEqual(
      res.warnings.filter((w) => w.startsWith("plot ")),
      [],
      "no plot failed",
    );
    for (const name of res.plots) {
      const base = path.join(res.dir, "plots", name);
      const svg = fs.readFileSync(`${base}.svg`, "utf8");
      assert.ok(svg.startsWith("<svg") && svg.length > 2000, `${name}.svg is a drawing`);
      assert.ok(/<text[^>]*>[^<]+<\/text>/.test(svg), `${name}.svg has text (title, labels)`);
      const w = Number(/width="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
      const h = Number(/height="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
      const png = fs.readFileSync(`${base}.png`);
      assert.deepEqual(
        [...png.subarray(0, 8)],
        [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
        `${name}.png has the PNG signature`,
      );
      assert.equal(png.toString("ascii", 12, 16), "IHDR");
      assert.equal(png.readUInt32BE(16), Math.ceil(2 * w), `${name}.png width = 2 × SVG width`);
      assert.equal(png.readUInt32BE(20), Math.ceil(2 * h), `${name}.png height = 2 × SVG height`);
      assert.ok(png.length > 5000, `${name}.png is not blank`);
      JSON.parse(fs.readFileSync(`${base}.vl.json`, "utf8"));
      names.push(name.split("--")[0]!);
    }
  }
  for (const kind of [
    "loss",
    "norms",
    "delta-ratio",
    "stop-steps",
    "spectrum",
    "accuracy",
    "accuracy-vs-steps",
    "overhead",
    "width-gamma",
  ]) {
    assert.ok(names.includes(kind), `a ${kind} figure was drawn`);
  }
});

test("bad input: unreadable config, torn eval line, empty and missing experiments still render", async () => {
  const results = tmp("bad");
  fs.cpSync(path.join(FIXTURE, "fixture"), path.join(results, "bad"), { recursive: true });
  const broken = path.join(results, "bad", "zz-broken-run");
  fs.mkdirSync(broken);
  fs.writeFileSync(path.join(broken, "config.json"), '{"model": "Qwen/Qwen2-0.5B", "task": ');
  const someRun = fs.readdirSync(path.join(results, "bad")).find((d) => d.includes("lora-plus"))!;
  fs.appendFileSync(path.join(results, "bad", someRun, "eval.jsonl"), '{"step": 40, "task": "arc_');
  fs.mkdirSync(path.join(results, "empty"));
  const reports = tmp("bad-reports");

  const bad = await renderReport({
    experiment: "bad",
    resultsDir: results,
    reportsDir: reports,
    noPlots: true,
    now: NOW,
  });
  assert.ok(
    bad.warnings.some((w) => w.startsWith("zz-broken-run: config.json does not parse")),
    bad.warnings.join("\n"),
  );
  assert.ok(bad.warnings.some((w) => w.startsWith(`${someRun}: eval.jsonl: skipped 1 unparsable line`)));
  const runs = fs.readFileSync(path.join(bad.dir, "tables", "runs.md"), "utf8");
  assert.match(runs, /zz-broken-run.*\| invalid \|/);

  const empty = await renderReport({ experiment: "empty", resultsDir: results, reportsDir: reports, now: NOW });
  assert.ok(empty.warnings.some((w) => /has no run folders yet/.test(w)));
  assert.match(fs.readFileSync(path.join(empty.dir, "index.html"), "utf8"), /has no run folders yet/);
  assert.match(fs.readFileSync(path.join(empty.dir, "README.md"), "utf8"), /has no run folders yet/);

  const missing = await renderReport({ experiment: "never-ran", resultsDir: results, reportsDir: reports, now: NOW });
  assert.ok(missing.warnings.some((w) => /no results folder/.test(w)));
  assert.ok(fs.existsSync(path.join(missing.dir, "index.html")));
});

test("a table whose cells are all at chance says so in its caption, and C5 does not rank the noise", async () => {
  const results = tmp("chance");
  fs.cpSync(path.join(FIXTURE, "fixture"), path.join(results, "chance"), { recursive: true });
  // Every arc_easy evaluation set to 26% of 100 documents (chance 25%); social_iqa is already near its 33%.
  for (const run of fs.readdirSync(path.join(results, "chance")).filter((d) => d.startsWith("arc_easy--"))) {
    const dir = path.join(results, "chance", run);
    if (!fs.existsSync(path.join(dir, "eval.jsonl"))) continue;
    const evals = fs
      .readFileSync(path.join(dir, "eval.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { metrics: Record<string, number> });
    for (const e of evals) e.metrics["acc,none"] = 0.26;
    fs.writeFileSync(path.join(dir, "eval.jsonl"), evals.map((e) => JSON.stringify(e) + "\n").join(""));
    const sf = path.join(dir, "summary.json");
    if (fs.existsSync(sf)) {
      const s = JSON.parse(fs.readFileSync(sf, "utf8")) as { final: Record<string, Record<string, number>> };
      if (s.final.arc_easy) s.final.arc_easy["acc,none"] = 0.26;
      fs.writeFileSync(sf, JSON.stringify(s));
    }
  }
  const res = await renderReport({
    experiment: "chance",
    resultsDir: results,
    reportsDir: tmp("chance-reports"),
    noPlots: true,
    now: NOW,
  });
  const md = fs.readFileSync(path.join(res.dir, "tables", "accuracy-mean--qwen2-0.5b.md"), "utf8");
  assert.match(md.split("\n")[0]!, /every cell is at or below chance: this table ranks noise$/);
  assert.match(md, /\| AdamW \| 35\.75 ± 1\.34 \(2\) \[chance\] \| \*\*26\.00 ± 0\.00 \(2\) \[chance\]\*\* \|/);
  const claims = JSON.parse(fs.readFileSync(path.join(res.dir, "claims.json"), "utf8")) as {
    claims: { id: string; verdict: string; reason: string }[];
  };
  const c5 = claims.claims.find((c) => c.id === "C5")!;
  assert.equal(c5.verdict, "inconclusive");
  assert.match(c5.reason, /at or below chance/);
});
