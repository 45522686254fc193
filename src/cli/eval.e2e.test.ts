// End to end: `eval --model ../shared/models/stories260K --task arc_easy --limit 50 --json` runs the real model
// (src/eval/model-lm.ts) on 50 ARC-Easy test docs, prints one JSON object, writes the per-sample records, and its
// acc/acc_norm equal a recomputation from those records (argmax by hand here, not via rescore). Skipped when
// ../shared or the model adapter is absent. Also the metrics table format, and `--adapter` with an adapter naming
// another base model (a warning) or one whose layer shapes do not fit (an error naming the tensor and shapes).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { evalCommand, formatMetricsTable, defaultSamplesPath } from "./eval.ts";
import { captureConsole } from "../testing/capture-console.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const shared = path.resolve(repoRoot, "../shared");
const model = path.join(shared, "models/stories260K");
const haveModelLm = fs.existsSync(path.join(repoRoot, "src/eval/model-lm.ts"));
const skip = !fs.existsSync(model)
  ? "no ../shared/models/stories260K"
  : !haveModelLm
    ? "src/eval/model-lm.ts not built yet"
    : false;

test(
  "eval end to end on stories260K × 50 ARC-Easy docs: acc equals a recomputation from the written samples",
  { skip, timeout: 300_000 },
  async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-evalcli-"));
    const samplesFile = path.join(out, "samples.jsonl");
    const { out: stdout } = await captureConsole(() =>
      (evalCommand.handler as (a: unknown) => Promise<void>)({
        model,
        task: "arc_easy",
        limit: 50,
        json: true,
        samples: samplesFile,
        backend: "wasm",
        "data-dir": path.join(shared, "datasets"),
        "results-dir": out,
        seed: 0,
        "batch-size": 16,
      }),
    );
    const printed = stdout.split("\n").slice(0, -1);
    assert.equal(printed.length, 1, "exactly one line on stdout");
    const result = JSON.parse(printed[0]!) as { task: string; n: number; metrics: Record<string, number> };
    assert.equal(result.task, "arc_easy");
    assert.equal(result.n, 50);
    const samples = fs
      .readFileSync(samplesFile, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { logprobs: number[]; choices: string[]; target: number });
    assert.equal(samples.length, 50);
    let acc = 0;
    let accNorm = 0;
    for (const s of samples) {
      assert.equal(s.logprobs.length, s.choices.length);
      assert.ok(s.logprobs.every((x) => Number.isFinite(x) && x < 0));
      const best = s.logprobs.indexOf(Math.max(...s.logprobs));
      const norm = s.logprobs.map((x, i) => x / s.choices[i]!.length);
      const bestNorm = norm.indexOf(Math.max(...norm));
      acc += best === s.target ? 1 : 0;
      accNorm += bestNorm === s.target ? 1 : 0;
    }
    assert.equal(result.metrics["acc,none"], acc / 50);
    assert.equal(result.metrics["acc_norm,none"], accNorm / 50);
    assert.ok(Math.abs(result.metrics["acc_stderr,none"]! - Math.sqrt(((acc / 50) * (1 - acc / 50)) / 49)) < 1e-12);
  },
);

test("metrics table and default samples path", () => {
  const t = formatMetricsTable("arc_easy", "test", 50, {
    "acc,none": 0.3,
    "acc_stderr,none": 0.0655,
    "acc_norm,none": 0.28,
    "acc_norm_stderr,none": 0.0641,
  });
  assert.match(t, /\| arc_easy \| test  \| 50 \| none   \| acc      \| 0\.3000 \| 0\.0655 \|/);
  assert.match(t, /acc_norm/);
  assert.equal(
    defaultSamplesPath({
      model: "m",
      adapter: "/r/run1/adapter",
      task: "gsm8k",
      split: "test",
      n: 10,
      seed: 0,
      resultsDir: "results",
    }),
    "/r/run1/eval--gsm8k--test.samples.jsonl",
  );
  assert.equal(
    defaultSamplesPath({
      model: "Qwen/Qwen2-0.5B",
      task: "hellaswag",
      split: "validation",
      n: 100,
      seed: 3,
      resultsDir: "results",
    }),
    path.join("results", "eval", "Qwen--Qwen2-0.5B", "hellaswag--validation--n100--s3.samples.jsonl"),
  );
});

test(
  "eval --adapter: another base model's name warns; layer shapes that do not fit are an error",
  { skip, timeout: 300_000 },
  async (t) => {
    const { initBackend } = await import("../backend.ts");
    const { buildDecoder } = await import("../models/decoder.ts");
    const { customConfig, randomWeights } = await import("../models/presets.ts");
    const { loadLanguageModel } = await import("../eval/model-lm.ts");
    const { injectLora, saveAdapter, disposePairs } = await import("../lora/lora.ts");
    const { Rng } = await import("../util/rng.ts");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-evalcli-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    await initBackend("wasm");
    const lora = { r: 2, alpha: 4, targets: ["q_proj" as const], dropout: 0, rslora: false };
    // An adapter that fits stories260K but names another base model.
    const lm = await loadLanguageModel(model, await initBackend("wasm"));
    try {
      await saveAdapter(injectLora(lm.decoder, lora, new Rng(1)), path.join(dir, "renamed"), {
        baseModel: "someone/other-model",
        lora,
      });
    } finally {
      lm.dispose();
    }
    // An adapter of a model with another width (16, not 64).
    const small = customConfig({
      vocabSize: 40,
      hiddenSize: 16,
      intermediateSize: 24,
      numLayers: 1,
      numHeads: 4,
      numKvHeads: 2,
    });
    const other = buildDecoder(small, randomWeights(small, new Rng(2)));
    try {
      await saveAdapter(injectLora(other, lora, new Rng(3)), path.join(dir, "small"), { baseModel: "tiny-16", lora });
      disposePairs(other.removeLora());
    } finally {
      other.dispose();
    }
    const run = async (adapter: string) => {
      const args = {
        model,
        adapter,
        task: "arc_easy",
        limit: 2,
        json: true,
        samples: path.join(dir, "s.jsonl"),
        backend: "wasm",
        "data-dir": path.join(shared, "datasets"),
        "results-dir": dir,
        seed: 0,
        "batch-size": 16,
      };
      return (await captureConsole(() => (evalCommand.handler as (a: unknown) => Promise<void>)(args))).err;
    };
    const warned = await run(path.join(dir, "renamed"));
    assert.match(
      warned,
      /warning: adapter .*renamed was trained on "someone\/other-model" .* but is applied to ".*stories260K"/,
    );
    await assert.rejects(
      run(path.join(dir, "small")),
      /tensor model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight has shape \[2, 16\], but this model's layer .* is \[out 64, in 64\], so it must be \[2, 64\]: the adapter was trained on another model \("tiny-16"/,
    );
  },
);
