// runTraining end to end on a checkpoint-free tiny decoder ("random:…") and the generated `synthetic` task: the run
// folder holds every file of the results contract (src/results.ts) with consistent contents, Stable-LoRA reports
// its stop steps, and a run whose loss or gradients become non-finite ends "diverged" while a sweep goes on.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { resolveRunConfig, type DeepPartial, type RunConfig } from "../config.ts";
import { openCheckpoint } from "../models/safetensors.ts";
import { readJsonl, type EvalRecord, type MetricsRecord, type RunSummary } from "../results.ts";
import { configHash, expandExperiment, type Experiment } from "../sweep.ts";
import { runTraining } from "./recipe.ts";

const TINY: DeepPartial<RunConfig> = {
  model: "random:d=32,L=1,heads=2,kv=1",
  task: "synthetic",
  backend: "wasm",
  lora: { r: 4, alpha: 8, targets: ["q_proj", "v_proj"] },
  optimizer: { name: "adamw", lr: 1e-2 },
  train: { steps: 8, batchSize: 4, maxSeqLen: 16, checkpointEvery: 3, warmupSteps: 2, schedule: "linear" },
  eval: { limit: 20, batchSize: 20 },
  stability: { probeEvery: 2, probeBatchSize: 4 },
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "recipe-test-"));
const dataDir = path.join(tmp, "datasets");

function config(patch: DeepPartial<RunConfig> = {}): RunConfig {
  return resolveRunConfig(TINY, { dataDir }, patch);
}

async function run(name: string, cfg: RunConfig): Promise<{ dir: string; summary: RunSummary }> {
  const dir = path.join(tmp, name);
  const summary = await runTraining(cfg, { experiment: "t", runId: name, configHash: configHash(cfg), dir });
  return { dir, summary };
}

const MODULE_FIELDS = ["normA", "normB", "normRatio", "gradNormA", "gradNormB"] as const;
const RECORD_FIELDS = [
  "step",
  "loss",
  "lr",
  "tokens",
  "lossTokens",
  "tokensPerSec",
  "stepSeconds",
  "gradNorm",
  "gradNormA",
  "gradNormB",
  "normA",
  "normB",
  "nonFinite",
  "numTensors",
  "optim",
  "modules",
] as const;

test("a run writes the whole results contract, consistently", async () => {
  await initBackend("wasm");
  const tensors0 = tf.memory().numTensors;
  const cfg = config();
  const { dir, summary } = await run("adamw", cfg);
  assert.equal(summary.status, "success", summary.error);
  assert.equal(tf.memory().numTensors, tensors0, "no tensor outlives the run");
  assert.equal(summary.leakedTensors, 0);

  // config.json is the resolved config and hashes to the summary's hash.
  const written = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as RunConfig;
  assert.deepEqual(written, cfg);
  assert.equal(summary.configHash, configHash(written));

  // metrics.jsonl: one line per step, every MetricsRecord field, δ on probe steps only.
  const { rows, badLines } = readJsonl<MetricsRecord>(path.join(dir, "metrics.jsonl"));
  assert.deepEqual(badLines, []);
  assert.deepEqual(
    rows.map((r) => r.step),
    [1, 2, 3, 4, 5, 6, 7, 8],
  );
  const modules = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj"];
  for (const r of rows) {
    for (const f of RECORD_FIELDS) assert.ok(f in r, `metrics step ${r.step} lacks ${f}`);
    assert.ok(Number.isFinite(r.loss) && r.loss > 0);
    assert.equal(r.nonFinite, 0);
    assert.deepEqual(Object.keys(r.modules).sort(), modules);
    for (const m of modules)
      for (const f of MODULE_FIELDS) assert.ok(f in r.modules[m]!, `${m} lacks ${f} at step ${r.step}`);
    // The logged mean norms are the means of the per-module ones.
    const meanA = modules.reduce((s, m) => s + r.modules[m]!.normA, 0) / modules.length;
    assert.ok(Math.abs(meanA - r.normA) <= 1e-9 * Math.max(1, meanA));
    if (r.step % 2 === 0) {
      assert.ok(r.delta, `probe step ${r.step} has δ terms`);
      assert.deepEqual(Object.keys(r.delta).sort(), modules);
      for (const d of Object.values(r.delta)) {
        assert.ok(d.dY > 0 && d.d1 >= 0 && d.d2 >= 0 && d.d3 >= 0);
        assert.ok(d.identityError < 1e-4, `ΔY = δ1+δ2+δ3 within float32 round-off (${d.identityError})`);
      }
    } else {
      assert.equal(r.delta, undefined, `step ${r.step} is not a probe step`);
    }
  }
  // B starts at 0 (so does ‖B‖ at step 1: the signals are read before the update) and then moves.
  assert.equal(rows[0]!.normB, 0);
  assert.ok(rows[7]!.normB > 0);
  // Warm-up then linear decay: lr rises over 2 steps and ends below the peak.
  assert.ok(rows[0]!.lr < rows[1]!.lr && rows[7]!.lr < 1e-2);

  // eval.jsonl: the final evaluation, which the summary repeats.
  const evals = readJsonl<EvalRecord>(path.join(dir, "eval.jsonl")).rows;
  assert.equal(evals.length, 1);
  assert.deepEqual(
    { step: evals[0]!.step, task: evals[0]!.task, n: evals[0]!.n, final: evals[0]!.final },
    { step: 8, task: "synthetic", n: 20, final: true },
  );
  assert.deepEqual(summary.final.synthetic, evals[0]!.metrics);

  // samples.jsonl: accuracy recomputed from the per-document records equals the reported one.
  const samples = readJsonl<{ acc: number; acc_norm: number; logprobs: number[]; target: number }>(
    path.join(dir, "samples.jsonl"),
  ).rows;
  assert.equal(samples.length, 20);
  const acc = samples.reduce((s, x) => s + x.acc, 0) / samples.length;
  assert.equal(acc, summary.final.synthetic!["acc,none"]);
  for (const s of samples) assert.equal(s.acc, s.logprobs.indexOf(Math.max(...s.logprobs)) === s.target ? 1 : 0);

  // adapter/: PEFT files whose B equals the last step's ‖B‖.
  const cfgPeft = JSON.parse(fs.readFileSync(path.join(dir, "adapter", "adapter_config.json"), "utf8")) as Record<
    string,
    unknown
  >;
  assert.equal(cfgPeft.r, 4);
  assert.equal(cfgPeft.lora_alpha, 8);
  assert.deepEqual([...(cfgPeft.target_modules as string[])].sort(), ["q_proj", "v_proj"]);
  const ad = openCheckpoint(path.join(dir, "adapter", "adapter_model.safetensors"));
  try {
    const names = [...ad.entries.keys()].sort();
    assert.equal(names.length, 4);
    assert.ok(
      names.every((n) => /^base_model\.model\.model\.layers\.0\.self_attn\.[qv]_proj\.lora_[AB]\.weight$/.test(n)),
      names.join(", "),
    );
    const B = ad.readF32("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
    assert.ok(
      B.some((x) => x !== 0),
      "B was trained",
    );
  } finally {
    ad.close();
  }

  // summary.json: provenance and the end-of-run spectrum.
  const onDisk = JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8")) as RunSummary;
  assert.deepEqual(onDisk, JSON.parse(JSON.stringify(summary)));
  assert.equal(onDisk.stepsCompleted, 8);
  assert.equal(onDisk.provenance.backend.name, "wasm");
  assert.ok(onDisk.provenance.node.startsWith("v") && onDisk.provenance.packages["@tensorflow/tfjs"]);
  assert.deepEqual(onDisk.model, { hiddenSize: 32, numLayers: 1, modelType: "llama" });
  assert.match(onDisk.initAdapterSha256 ?? "", /^[0-9a-f]{16}$/);
  for (const m of modules) assert.ok(onDisk.stability!.deltaW![m]!.singularValues.length <= 4);
  assert.equal(onDisk.stability?.stopSteps, undefined, "AdamW has no stop steps");
});

test("Stable-LoRA reports a stop step per module, matching metrics.jsonl", async () => {
  // λ = 0.5 halves ‖A‖ every step, so ‖A‖/n < ‖B‖/m is reached within a few steps.
  const { dir, summary } = await run(
    "stable",
    config({
      optimizer: { name: "stable-lora", lr: 1e-2, lambda: 0.5 },
      train: { warmupSteps: 0, schedule: "constant" },
    }),
  );
  assert.equal(summary.status, "success", summary.error);
  const stops = summary.stability?.stopSteps;
  assert.ok(stops, "stopSteps present");
  const rows = readJsonl<MetricsRecord>(path.join(dir, "metrics.jsonl")).rows;
  assert.deepEqual(Object.keys(stops).sort(), Object.keys(rows[0]!.modules).sort());
  assert.ok(
    Object.values(stops).some((s) => typeof s === "number"),
    `some module stopped: ${JSON.stringify(stops)}`,
  );
  for (const [m, s] of Object.entries(stops)) {
    // metrics log null until the stop, then the stop step from there on.
    const first = rows.find((r) => r.modules[m]!.stopStep !== null);
    assert.equal(first?.modules[m]!.stopStep ?? null, s);
    if (s !== null) {
      assert.ok(s >= 1 && s <= 8);
      for (const r of rows) assert.equal(r.modules[m]!.stopStep, r.step >= s ? s : null, `${m} at step ${r.step}`);
    }
  }
  // While shrinking, ‖A‖ falls by (1−λ) per step (plus the small Adam step).
  assert.ok(rows[2]!.normA < rows[0]!.normA * 0.5);
});

test("a non-finite loss stops the run as diverged, and a sweep goes on with the next cell", async () => {
  // lr = 1e6 without clipping: AdamW's decoupled weight decay multiplies A by (1 − lr·wd) = −9999 per step, so the
  // factors overflow float32 within a few steps, whatever the data.
  // (runSweep's own loop over cells is tested with a diverging cell in src/cli/sweep.e2e.test.ts.)
  const exp: Experiment = {
    name: "div",
    description: "test",
    base: { ...TINY, dataDir, train: { ...TINY.train, steps: 12, maxGradNorm: 0 } },
    axes: [
      {
        key: "optimizer",
        values: [
          { name: "adamw", lr: 1e6 },
          { name: "adamw", lr: 1e-2 },
        ],
      },
    ],
  };
  const cells = expandExperiment(exp);
  const summaries: RunSummary[] = [];
  for (const c of cells) {
    summaries.push(
      await runTraining(c.config, {
        experiment: exp.name,
        runId: c.runId,
        configHash: c.configHash,
        dir: path.join(tmp, "div", c.runId),
      }),
    );
  }
  const [bad, good] = summaries;
  assert.equal(bad!.status, "diverged");
  assert.ok(bad!.divergedAtStep! >= 1 && bad!.divergedAtStep! <= 12);
  assert.equal(bad!.stepsCompleted, bad!.divergedAtStep! - 1, "the diverged step is not counted as completed");
  assert.equal(bad!.leakedTensors, 0);
  assert.deepEqual(bad!.final, {}, "a diverged run is not evaluated");
  const rows = readJsonl<MetricsRecord>(path.join(tmp, "div", cells[0]!.runId, "metrics.jsonl")).rows;
  assert.deepEqual(
    rows.map((r) => r.step),
    Array.from({ length: bad!.stepsCompleted }, (_, i) => i + 1),
    "finite steps only",
  );
  assert.ok(rows.every((r) => Number.isFinite(r.loss)));
  const onDisk = JSON.parse(
    fs.readFileSync(path.join(tmp, "div", cells[0]!.runId, "summary.json"), "utf8"),
  ) as RunSummary;
  assert.equal(onDisk.status, "diverged");
  assert.equal(onDisk.divergedAtStep, bad!.divergedAtStep);
  assert.equal(good!.status, "success", good!.error);
});

test("a failure is recorded as failed in summary.json, not thrown", async () => {
  const bad = path.join(tmp, "bad.jsonl");
  fs.writeFileSync(bad, '{"context": "a", "continuation": ""}\n');
  const { dir, summary } = await run("failed", config({ task: null, data: bad }));
  assert.equal(summary.status, "failed");
  assert.match(summary.error ?? "", /continuation/);
  assert.equal(summary.leakedTensors, 0);
  assert.equal((JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8")) as RunSummary).status, "failed");
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
