// The `score` command end to end on ../shared/models/stories260K (skipped when absent): one output line per input
// line, in order, equal to the language model's own loglikelihood (which src/eval/model-lm.test.ts checks against a
// full forward), an adapter applied, tensors freed; and a malformed input fails with its line number and exit code ≠ 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { Rng } from "../util/rng.ts";
import { injectLora, saveAdapter } from "../lora/lora.ts";
import { loadLanguageModel } from "../eval/model-lm.ts";
import { scoreFile } from "./score.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const stories = path.resolve(repoRoot, "../shared/models/stories260K");

test("score on stories260K: output lines in order, adapter applied, tensors freed", async (t) => {
  if (!fs.existsSync(path.join(stories, "config.json"))) return t.skip("../shared/models/stories260K is absent");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-score-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const input = path.join(dir, "in.jsonl");
  const reqs = [
    { context: "Once upon a time, there was a little", continuation: " girl" },
    { context: "", continuation: "Once upon a time" },
    { context: "The dog", continuation: " was happy and" },
  ];
  fs.writeFileSync(input, reqs.map((r) => JSON.stringify(r)).join("\n") + "\n");
  await initBackend("wasm");
  const before = tf.memory().numTensors;
  const lines = (await scoreFile({ model: stories, input, backend: "wasm", batchSize: 2, quiet: true }))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(tf.memory().numTensors, before, "score leaked tensors");
  const lm = await loadLanguageModel(stories, await initBackend("wasm"));
  try {
    const refs = await lm.loglikelihood(reqs, { batchSize: 2 }); // as scoreFile batched them above
    reqs.forEach((_, i) => {
      assert.equal(lines[i].logprob, refs[i]!.logprob, `line ${i}`);
      assert.equal(lines[i].isGreedy, refs[i]!.isGreedy);
    });
    assert.equal(lines[1].isGreedy, true);
    // An adapter with nonzero B changes the scores; the same adapter loaded twice gives the same scores.
    const pairs = injectLora(
      lm.decoder,
      { r: 2, alpha: 4, targets: ["q_proj", "v_proj"], dropout: 0, rslora: false },
      new Rng(1),
    );
    for (const p of pairs) tf.tidy(() => p.B.assign(tf.fill([p.outDim, p.r], 0.5)));
    await saveAdapter(pairs, path.join(dir, "adapter"), {
      baseModel: stories,
      lora: { alpha: 4, dropout: 0, rslora: false },
    });
  } finally {
    lm.dispose();
  }
  const adapted = (
    await scoreFile({ model: stories, input, adapter: path.join(dir, "adapter"), backend: "wasm", quiet: true })
  )
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(adapted.length, 3);
  assert.ok(
    adapted.every((a, i) => Math.abs(a.logprob - lines[i].logprob) > 1e-3),
    "the adapter should change every score",
  );
  assert.equal(tf.memory().numTensors, before);
});

test("score: a malformed input line fails with its line number and exit code ≠ 0", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-score-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const input = path.join(dir, "bad.jsonl");
  fs.writeFileSync(input, '{"context": "a", "continuation": "b"}\n{"context": "a", "continuation": ""}\n');
  await assert.rejects(
    scoreFile({ model: path.join(dir, "no-model"), input, quiet: true }),
    /bad\.jsonl:2: "continuation" is empty/,
  );
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(repoRoot, "experiments/run.ts"),
      "score",
      "--model",
      path.join(dir, "no-model"),
      "--input",
      input,
    ],
    { cwd: repoRoot, encoding: "utf8" },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /bad\.jsonl:2/);
});
