// index.html in a real browser: Debian's headless Chromium (playwright-core, no bundled browser) opens the fixture's
// report from disk and we check that it makes no network request, logs no console error, and shows the expected
// tables and figures, the claims table first. A second test runs a tiny real quickstart sweep (two widths, AdamW and
// Stable-LoRA, a few steps) and checks its page shows the claims table with computed verdicts. A screenshot is saved to
// a temp folder (its path is printed). Skips when /usr/bin/chromium is absent.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { renderReport } from "./render.ts";
import { runSweep } from "../cli/sweep.ts";
import { EXPERIMENTS } from "../../experiments/index.ts";
import { captureConsole } from "../testing/capture-console.ts";

const CHROMIUM = "/usr/bin/chromium";
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "results");

test("index.html loads offline in Chromium with its tables and figures", { timeout: 120_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} not found (apt-get install chromium)`);
    return;
  }
  const { chromium } = await import("playwright-core");
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-page-"));
  const res = await renderReport({
    experiment: "fixture",
    resultsDir: FIXTURE,
    reportsDir: out,
    now: new Date("2026-03-10T12:00:00Z"),
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("request", (r) => requests.push(r.url()));
    const url = pathToFileURL(path.join(res.dir, "index.html")).href;
    await page.goto(url, { waitUntil: "load" });

    assert.deepEqual(errors, [], "no console errors");
    assert.deepEqual(
      requests.filter((u) => u !== url),
      [],
      "the page fetches nothing: no CDN, no images, no fonts",
    );
    assert.equal(await page.title(), "lora-lab report: fixture");
    const captions = await page.locator("table.report caption").allTextContents();
    for (const c of [
      "Paper's claims vs this data",
      "Qwen/Qwen2-0.5B: mean ± std over seeds",
      "Qwen/Qwen2-0.5B: best of seeds",
      "Paired difference against AdamW",
      "Stability summary",
      "Overhead relative to AdamW",
      "Runs",
    ]) {
      assert.ok(captions.includes(c), `table "${c}" present (have: ${captions.join(" | ")})`);
    }
    assert.equal(await page.locator("figure svg").count(), res.plots.length, "one inline SVG per figure");
    for (const name of res.plots) {
      const box = await page.locator(`[id="fig-${name}"] svg`).boundingBox();
      assert.ok(box && box.width > 200 && box.height > 100, `figure ${name} is laid out (${JSON.stringify(box)})`);
    }
    assert.match(await page.locator("#warnings").innerText(), /unparsable line/);
    assert.equal(await page.locator("h2").first().innerText(), "At a glance", "the page opens with At a glance");
    assert.match(
      await page.locator("#glance li").first().innerText(),
      /^Paper's claims vs this data .*C1 supported/,
      "At a glance leads with the verdicts",
    );
    assert.match(await page.locator("#glance li").nth(2).innerText(), /^Highest mean accuracy/);
    assert.equal(
      await page.locator("h2").nth(1).innerText(),
      "Paper's claims vs this data",
      "the claims table is the first section",
    );
    const verdicts = await page.locator("#table-claims td.verdict").allTextContents();
    assert.deepEqual(verdicts, ["supported", "supported", "supported", "supported", "supported"], "golden claims.md");
    assert.match(
      await page.locator('[id="table-accuracy-mean--qwen2-0.5b"]').innerText(),
      /\[chance\]/,
      "social_iqa cells are marked at chance",
    );
    assert.equal(await page.locator("#glance figure svg").count(), 1, "the Figure 2 panel sits under the sentences");
    const ys = await Promise.all(
      ["#glance", "#warnings", "#accuracy"].map(async (sel) => (await page.locator(sel).boundingBox())?.y ?? NaN),
    );
    assert.ok(
      ys[0]! < ys[1]! && ys[1]! < ys[2]!,
      `glance, then what is missing, then the tables (y = ${ys.join(", ")})`,
    );
    const bold = await page.locator(`[id="table-accuracy-mean--qwen2-0.5b"] strong`).count();
    assert.ok(bold >= 1, "the best value per column is bold");
    const shot = path.join(out, "index.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000);
    console.log(`screenshot: ${shot}`);
  } finally {
    await browser.close();
  }
});

test("a tiny real quickstart report shows the claims table in Chromium", { timeout: 600_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} not found (apt-get install chromium)`);
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-qs-page-"));
  const { value: code, err: log } = await captureConsole(() =>
    runSweep(
      {
        experiment: "quickstart",
        only: ["model=random:d=64,L=2", "model=random:d=128,L=2", "optimizer=adamw,stable-lora", "seed=0"],
        set: ["train.steps=8", "train.batchSize=4", "eval.limit=20", "stability.probeEvery=2"],
        backend: "wasm",
        "results-dir": path.join(tmp, "results"),
        "reports-dir": path.join(tmp, "reports"),
        "data-dir": path.join(tmp, "datasets"),
      },
      EXPERIMENTS,
    ),
  );
  assert.equal(code, 0, log);
  const claims = JSON.parse(fs.readFileSync(path.join(tmp, "reports", "quickstart", "claims.json"), "utf8")) as {
    claims: { id: string; verdict: string }[];
  };
  assert.ok(
    claims.claims.some((c) => c.id === "C1") &&
      claims.claims.every((c) => ["supported", "contradicted", "inconclusive"].includes(c.verdict)),
    JSON.stringify(claims.claims),
  );
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pathToFileURL(path.join(tmp, "reports", "quickstart", "index.html")).href, { waitUntil: "load" });
    assert.deepEqual(errors, []);
    const table = page.locator("#table-claims");
    assert.equal(await table.locator("caption").innerText(), "Paper's claims vs this data");
    const ids = await table.locator("tbody tr td:first-child").allTextContents();
    assert.deepEqual(
      ids,
      claims.claims.map((c) => c.id),
      "one row per claim in claims.json",
    );
    assert.deepEqual(
      await table.locator("td.verdict").allTextContents(),
      claims.claims.map((c) => c.verdict),
    );
    assert.ok((await table.boundingBox())!.height > 50, "the table is laid out");
    assert.match(await page.locator("#glance li").first().innerText(), /^Paper's claims vs this data/);
  } finally {
    await browser.close();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});
