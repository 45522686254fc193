// `train --out DIR` (src/cli/train.ts), called in process: a finished run folder is never rewritten by rerunning its
// command, and a different config aimed at the same folder is refused with the folder untouched. (Resuming an
// interrupted run is the recipe's job: src/train/resume.e2e.test.ts.) `--init-adapter` adopts the adapter's LoRA
// configuration; `--steps 0` is an error.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RunSummary } from "../results.ts";
import { trainCommand } from "./train.ts";
import { captureConsole } from "../testing/capture-console.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "train-cli-test-"));

async function train(out: string, extra: Record<string, unknown> = {}): Promise<{ out: string; err: string }> {
  const c = await captureConsole(() =>
    (trainCommand.handler as (a: unknown) => Promise<void>)({
      model: "random:d=32,L=1,heads=2,kv=1",
      task: "synthetic",
      optimizer: "adamw",
      steps: 4,
      "batch-size": 4,
      out,
      shuffle: true,
      set: ["train.maxSeqLen=16", "eval.limit=20", "train.checkpointEvery=2"],
      backend: "wasm",
      "data-dir": path.join(tmp, "datasets"),
      ...extra,
    }),
  );
  return { out: c.out, err: c.err };
}

test("train: a finished --out folder is left alone on rerun; a different config there is refused", async () => {
  const out = path.join(tmp, "run");
  const first = await train(out);
  const summaryFile = path.join(out, "summary.json");
  const s = JSON.parse(fs.readFileSync(summaryFile, "utf8")) as RunSummary;
  assert.equal(s.status, "success", first.err);
  assert.equal(JSON.parse(first.out).status, "success");
  const before = fs
    .readdirSync(out, { recursive: true })
    .map(String)
    .sort()
    .map((f) => `${f}:${fs.statSync(path.join(out, f)).mtimeMs}`);

  const again = await train(out);
  assert.match(again.err, /already holds a finished run \(success\); nothing to do/);
  assert.deepEqual(JSON.parse(again.out).final, s.final);
  const after = fs
    .readdirSync(out, { recursive: true })
    .map(String)
    .sort()
    .map((f) => `${f}:${fs.statSync(path.join(out, f)).mtimeMs}`);
  assert.deepEqual(after, before, "no file rewritten");

  await assert.rejects(train(out, { steps: 5 }), /written by a different config/);
  assert.deepEqual(
    fs
      .readdirSync(out, { recursive: true })
      .map(String)
      .sort()
      .map((f) => `${f}:${fs.statSync(path.join(out, f)).mtimeMs}`),
    before,
  );
  process.exitCode = 0;
});

test("train --init-adapter trains the adapter with its own LoRA configuration; contradictions and 0 steps are errors", async () => {
  // An adapter of another rank, alpha, dropout and other targets than the defaults (r 8, alpha 16, q_proj + v_proj).
  const base = ["train.maxSeqLen=16", "eval.limit=20", "train.checkpointEvery=2"];
  const own = ["lora.r=2", "lora.alpha=3", "lora.targets=k_proj,down_proj", "lora.dropout=0.1"];
  const src = path.join(tmp, "source");
  const first = await train(src, { steps: 2, set: [...base, ...own] });
  assert.equal(JSON.parse(first.out).status, "success", first.err);
  const adapter = path.join(src, "adapter");

  const out = path.join(tmp, "continued");
  const second = await train(out, { steps: 2, "init-adapter": adapter });
  assert.equal(JSON.parse(second.out).status, "success", second.err);
  assert.match(second.err, /adopting the adapter's LoRA configuration/);
  const adopted = { r: 2, alpha: 3, targets: ["k_proj", "down_proj"], dropout: 0.1, rslora: false };
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")).lora, adopted);
  const written = JSON.parse(fs.readFileSync(path.join(out, "adapter", "adapter_config.json"), "utf8"));
  assert.deepEqual(
    [written.r, written.lora_alpha, written.lora_dropout, written.target_modules],
    [2, 3, 0.1, ["k_proj", "down_proj"]],
  );

  // An explicit --set that contradicts the adapter fails before anything is written.
  const refused = path.join(tmp, "refused");
  await assert.rejects(
    train(refused, { "init-adapter": adapter, set: [...base, "lora.r=8"] }),
    /--init-adapter .*adapter: lora\.r=8 but the adapter has r = 2/,
  );
  await assert.rejects(train(refused, { steps: 0 }), /train\.steps is 0: a run must take at least one optimizer step/);
  assert.equal(fs.existsSync(refused), false);
  process.exitCode = 0;
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
