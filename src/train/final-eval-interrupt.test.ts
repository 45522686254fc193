// An interrupt (SIGTERM before a scheduler's time limit) that arrives during a run's final evaluation stops the
// evaluation between chunks instead of running it to the end: the run ends "interrupted" with its final checkpoint,
// and the rerun goes straight to the (resumable) final evaluation and ends as a straight run does.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../backend.ts";
import { resolveRunConfig } from "../config.ts";
import type { RunSummary } from "../results.ts";
import { configHash } from "../sweep.ts";
import { runTraining } from "./recipe.ts";

test("an interrupt during the final evaluation: interrupted, then resumed to the straight run's result", async () => {
  await initBackend("wasm");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "final-eval-int-"));
  const cfg = resolveRunConfig({
    model: "random:d=32,L=1,heads=2,kv=1",
    task: "synthetic",
    backend: "wasm",
    dataDir: path.join(tmp, "datasets"),
    lora: { r: 4, alpha: 8 },
    optimizer: { name: "adamw", lr: 1e-2 },
    train: { steps: 4, batchSize: 4, maxSeqLen: 16, checkpointEvery: 2 },
    eval: { limit: 150, batchSize: 8 },
    stability: { probeEvery: 0 },
  });
  const ctx = (dir: string) => ({ experiment: "t", runId: "r", configHash: configHash(cfg), dir });
  const straight = await runTraining(cfg, ctx(path.join(tmp, "straight")));
  assert.equal(straight.status, "success");

  const dir = path.join(tmp, "interrupted");
  const ctl = new AbortController();
  // Aborted after the last step: the loop has no step left to notice, so the abort lands in the final evaluation.
  const first = await runTraining(cfg, {
    ...ctx(dir),
    signal: ctl.signal,
    onStep: (p) => void (p.step === 4 && ctl.abort()),
  });
  assert.equal(first.status, "interrupted", first.error);
  assert.match(first.error ?? "", /evaluation interrupted after 0 of 150 documents/);
  assert.ok(fs.existsSync(path.join(dir, "eval-partial--synthetic.jsonl")), "the resume file is kept");
  const logs: string[] = [];
  const second = await runTraining(cfg, { ...ctx(dir), log: (m) => logs.push(m) });
  assert.equal(second.status, "success", second.error);
  assert.ok(logs.includes("resuming from step 4"), logs.join("\n"));
  assert.deepEqual(second.final, straight.final);
  assert.equal(
    fs.readFileSync(path.join(dir, "samples.jsonl"), "utf8"),
    fs.readFileSync(path.join(tmp, "straight", "samples.jsonl"), "utf8"),
  );
  assert.ok(!fs.existsSync(path.join(dir, "eval-partial--synthetic.jsonl")), "removed once the samples are written");
  assert.equal((JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8")) as RunSummary).status, "success");
  fs.rmSync(tmp, { recursive: true, force: true });
});
