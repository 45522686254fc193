// loadModel/loadDecoder end to end: the real stories260K checkpoint in ../shared (greedy continuation equals its
// reference_greedy.json, made with llama2.c's run.c; skipped when ../shared is absent), and the errors a user meets:
// missing folder, unsupported model_type, a tensor of the wrong shape, a missing tensor, a config that does not fit.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { loadDecoder, loadModel } from "./load.ts";
import { generateGreedy } from "./generate.ts";
import { writeSafetensors } from "./safetensors.ts";
import { toHfConfigJson } from "./model-config.ts";
import { checkpointShapes, customConfig } from "./presets.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../..");
const stories = path.resolve(repoRoot, "../shared/models/stories260K");
const llamaTiny = path.join(here, "fixtures", "llama-tiny");

test("stories260K: greedy continuation from BOS equals reference_greedy.json", async (t) => {
  if (!fs.existsSync(path.join(stories, "reference_greedy.json")))
    return t.skip("../shared/models/stories260K is absent");
  const ref = JSON.parse(fs.readFileSync(path.join(stories, "reference_greedy.json"), "utf8")) as {
    greedy_ids: number[];
    greedy_logprobs: number[];
    logits_step0_first16: number[];
    logits_step0_logsumexp: number;
  };
  const model = await loadModel(stories, await initBackend("wasm"));
  try {
    const before = tf.memory().numTensors;
    const first = tf.tidy(() => model.decoder.forward(tf.tensor2d([[1]], [1, 1], "int32")).reshape([-1]));
    const logits = first.dataSync();
    const lse = tf.tidy(() => tf.logSumExp(first).dataSync()[0]!);
    first.dispose();
    ref.logits_step0_first16.forEach((v, i) =>
      assert.ok(Math.abs(logits[i]! - v) < 1e-4, `logit ${i}: ${logits[i]} vs ${v}`),
    );
    assert.ok(Math.abs(lse - ref.logits_step0_logsumexp) < 1e-4);
    const out = await generateGreedy(model.decoder, [1], { maxNewTokens: ref.greedy_ids.length });
    assert.deepEqual(out.ids, ref.greedy_ids);
    out.logprobs.forEach((lp, i) =>
      assert.ok(Math.abs(lp - ref.greedy_logprobs[i]!) < 2e-4, `step ${i}: logprob ${lp} vs ${ref.greedy_logprobs[i]}`),
    );
    assert.ok(
      model.tokenizer
        .decode(out.ids, { skipSpecialTokens: true })
        .startsWith("Once upon a time, there was a little girl named Lily."),
    );
    assert.equal(tf.memory().numTensors, before);
  } finally {
    model.decoder.dispose();
  }
});

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-load-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a missing model folder is a clear error", async () => {
  await initBackend("wasm");
  await assert.rejects(
    loadModel(path.join(os.tmpdir(), "no-such-model-dir-xyz"), await initBackend("wasm")),
    /not found/,
  );
  assert.throws(
    () => loadDecoder(path.join(os.tmpdir(), "no-such-model-dir-xyz")),
    /no-such-model-dir-xyz: model folder not found/,
  );
});

test("an unsupported model_type names config.json and the supported types", async (t) => {
  const dir = scratch(t);
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "gpt2", n_embd: 64 }));
  assert.throws(
    () => loadDecoder(dir),
    (e: Error) => /config\.json/.test(e.message) && /"gpt2"/.test(e.message) && /llama, qwen2/.test(e.message),
  );
});

test("a tensor whose shape disagrees with config.json names the tensor and the file", async (t) => {
  await initBackend("wasm");
  const dir = scratch(t);
  const config = customConfig({ vocabSize: 32, hiddenSize: 16, intermediateSize: 24, numLayers: 1, numHeads: 2 });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(toHfConfigJson(config)));
  const tensors = [...checkpointShapes(config)].map(([name, shape]) => {
    const s = name === "model.layers.0.mlp.up_proj.weight" ? [25, 16] : shape;
    return { name, shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1)) };
  });
  writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  const before = tf.memory().numTensors;
  assert.throws(
    () => loadDecoder(dir),
    (e: Error) =>
      /model\.layers\.0\.mlp\.up_proj\.weight/.test(e.message) &&
      /model\.safetensors/.test(e.message) &&
      /\[25, 16\]/.test(e.message),
  );
  assert.equal(tf.memory().numTensors, before, "a failed load must free what it had read");

  writeSafetensors(
    path.join(dir, "model.safetensors"),
    tensors
      .filter((x) => x.name !== "model.norm.weight")
      .map((x) => (x.name.includes("up_proj") ? { ...x, shape: [24, 16], data: new Float32Array(24 * 16) } : x)),
  );
  assert.throws(() => loadDecoder(dir), /tensor "model\.norm\.weight" \(shape \[16\]\) is missing/);
  assert.equal(tf.memory().numTensors, before);
});

test("a checkpoint with more layers than config.json says is rejected", async (t) => {
  await initBackend("wasm");
  const dir = scratch(t);
  for (const f of fs.readdirSync(llamaTiny))
    if (f !== "adapter" && f !== "golden.json") fs.copyFileSync(path.join(llamaTiny, f), path.join(dir, f));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...cfg, num_hidden_layers: 1 }));
  assert.throws(() => loadDecoder(dir), /model\.layers\.1\..*config\.json/);
});
