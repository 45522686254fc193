// The whole pipeline on the webgpu backend, on SwiftShader (a CPU Vulkan; docs/webgpu.md), against the same
// references as the wasm tests: logits, LoRA gradients and KV-cache generation on both tiny PyTorch checkpoints, the
// decoder-level golden trajectories of all five optimizers, no tensor leaks over 100 optimizer steps, and a device
// lost mid-run (last, since it destroys the device), and gradient accumulation. Bit-exact resume on webgpu is in
// resume.test.ts. Skipped, with the reason, where no adapter can be found.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { resolveRunConfig } from "../config.ts";
import { checkGreedy, checkLogits, checkLoraGrads } from "./parity.ts";
import { checkCase, fixture } from "./decoder-trajectory.ts";
import { createOptimizer } from "../optim/index.ts";
import { GoldenProblem, disposePairs, loadGolden, optimizerConfig } from "../optim/testing.ts";
import { OPTIMIZER_NAMES } from "../optim/types.ts";
import { useWebgpu } from "../webgpu-testing.ts";
import { destroyWebgpuDevice } from "../webgpu.ts";
import { checkAccumulation } from "./accumulation-check.ts";
import { readCheckpointState } from "./checkpoint.ts";
import { runTraining } from "./recipe.ts";

const skip = await useWebgpu();

for (const name of ["qwen2-tiny", "llama-tiny"]) {
  test(`${name}: logits, LoRA loss and gradients match PyTorch (webgpu)`, { skip }, async () => {
    await checkLogits(name);
    await checkLoraGrads(name);
  });
}

// Each generated token is a new attention shape, i.e. new shader pipelines for SwiftShader to compile: 4 tokens.
test(
  "llama-tiny: KV-cache greedy generation equals PyTorch and the full forward (webgpu, 4 tokens)",
  { skip },
  async () => {
    await checkGreedy("llama-tiny", 4);
  },
);

const llama = fixture.models.find((m) => m.model === "llama-tiny")!;
for (const c of llama.cases) {
  test(`llama-tiny: ${c.name} after ${fixture.steps} full-batch steps matches PyTorch (webgpu)`, { skip }, async () => {
    await checkCase(llama, c);
  });
}

test(
  "an accumulated step (micro-batches of unequal token counts) equals the full-batch step (webgpu)",
  { skip },
  async () => {
    await checkAccumulation("webgpu", false);
  },
);

test("no tensor leaks: 100 steps of every optimizer keep numTensors constant (webgpu)", { skip }, async () => {
  const problem = new GoldenProblem(loadGolden());
  const pairs = problem.pairs("random");
  const grads = problem.gradTensors(pairs);
  for (const name of OPTIMIZER_NAMES) {
    const base = tf.memory().numTensors;
    const opt = createOptimizer(optimizerConfig(name, { eps: 1e-6 }), pairs);
    await opt.step(grads, 1e-3);
    const afterFirst = tf.memory().numTensors;
    for (let k = 1; k < 100; k++) {
      await opt.step(grads, 1e-3);
      assert.equal(tf.memory().numTensors, afterFirst, `${name}: step ${k + 1} changed numTensors`);
    }
    opt.dispose();
    assert.equal(tf.memory().numTensors, base, `${name}: dispose did not return to the baseline`);
  }
  tf.dispose(Object.values(grads));
  disposePairs(pairs);
  problem.dispose();
});

test("device lost mid-run: the run ends failed, its last checkpoint intact and resumable", { skip }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "webgpu-lost-"));
  try {
    const data = path.join(tmp, "pairs.jsonl");
    fs.writeFileSync(
      data,
      ["ab", "cd", "ef", "gh"].map((s) => JSON.stringify({ context: s, continuation: ` ${s}!` })).join("\n") + "\n",
    );
    const cfg = resolveRunConfig({
      model: "random:d=16,L=1,heads=2,kv=1",
      data,
      backend: "webgpu",
      task: null,
      lora: { r: 2, targets: ["q_proj", "v_proj"] },
      train: { steps: 5, batchSize: 2, maxSeqLen: 8, checkpointEvery: 2 },
      stability: { probeEvery: 0 },
    });
    const dir = path.join(tmp, "run");
    const ctx = { experiment: "t", runId: "lost", configHash: "lost01", dir };
    const lost = await runTraining(cfg, { ...ctx, onStep: (p) => void (p.step === 3 && destroyWebgpuDevice()) });
    assert.equal(lost.status, "failed");
    assert.match(lost.error ?? "", /device was lost|lost/i);
    assert.equal(readCheckpointState(path.join(dir, "checkpoint"))?.step, 2, "the step-2 checkpoint is intact");
    // Resume (here on cpu, as this process's device is gone; the same config hash keeps the checkpoint valid).
    await initBackend("cpu");
    const resumed = await runTraining({ ...cfg, backend: "cpu" }, ctx);
    assert.equal(resumed.status, "success", resumed.error);
    assert.equal(resumed.stepsCompleted, 5);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
