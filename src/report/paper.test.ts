// The paper's numbers are looked up only where our setting matches the paper's (model, training regime, targets).
import { test } from "node:test";
import assert from "node:assert/strict";
import { paperGsm8k, paperModel, paperOverhead, paperQaAverage, targetsKey } from "./paper.ts";

const QA5 = ["hellaswag", "social_iqa", "openbookqa", "arc_easy", "arc_challenge"];
const base = {
  model: "Qwen/Qwen2-0.5B",
  optimizer: "stable-lora",
  targets: "q_proj,v_proj",
  stopCondition: true,
  steps: 1000,
  evalTasks: QA5,
  setting: "per-task" as const,
};

test("paperModel maps hub ids (base or instruct) and rejects others", () => {
  assert.equal(paperModel("Qwen/Qwen2-0.5B"), "qwen2-0.5b");
  assert.equal(paperModel("Qwen/Qwen2-1.5B-Instruct"), "qwen2-1.5b");
  assert.equal(paperModel("meta-llama/Llama-3.2-3B"), "llama-3.2-3b");
  assert.equal(paperModel("/models/Llama-3.2-1B"), "llama-3.2-1b");
  assert.equal(paperModel("Qwen/Qwen2.5-0.5B"), null);
  assert.equal(paperModel("random:llama:d=128"), null);
});

test("Table 1 for per-task q,v runs over the five QA tasks only", () => {
  assert.equal(paperQaAverage(base)?.value, 64.01);
  assert.equal(paperQaAverage({ ...base, optimizer: "adamw", model: "meta-llama/Llama-3.2-3B" })?.value, 83.53);
  assert.equal(
    paperQaAverage({ ...base, evalTasks: QA5.slice(0, 4) }),
    null,
    "an average over four tasks is not comparable",
  );
  assert.equal(paperQaAverage({ ...base, targets: "q_proj,k_proj,v_proj,o_proj" }), null);
});

test("merged QA: Table 4 (stop condition) and the 3B target-module ablation", () => {
  const merged = { ...base, setting: "merged" as const };
  assert.equal(paperQaAverage(merged)?.value, 62.46);
  assert.equal(paperQaAverage({ ...merged, stopCondition: false })?.value, 62.52);
  const b3 = { ...merged, model: "meta-llama/Llama-3.2-3B" };
  assert.equal(paperQaAverage({ ...b3, targets: "q_proj,k_proj,v_proj,o_proj" })?.value, 84.93);
  assert.equal(
    paperQaAverage({ ...b3, optimizer: "adamw", targets: "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj" })
      ?.value,
    85.31,
  );
  assert.equal(paperQaAverage({ ...merged, optimizer: "lora-plus" }), null, "no merged-QA number for LoRA+");
});

test("GSM8K 3B@5000 and the overhead table", () => {
  assert.equal(paperGsm8k({ model: "meta-llama/Llama-3.2-3B", optimizer: "stable-lora", steps: 5000 })?.value, 59.44);
  assert.equal(paperGsm8k({ model: "meta-llama/Llama-3.2-3B", optimizer: "adamw", steps: 5000 })?.value, 58.83);
  assert.equal(paperGsm8k({ model: "meta-llama/Llama-3.2-3B", optimizer: "adamw", steps: 1000 }), null);
  assert.deepEqual(
    ["adamw", "lora-plus", "riemannian", "lora-rite", "stable-lora"].map(
      (o) => paperOverhead("Qwen/Qwen2-0.5B", o)?.value,
    ),
    [0, 0, 8.3, 46, 0.6],
  );
  assert.equal(paperOverhead("meta-llama/Llama-3.2-1B", "riemannian")?.sameModel, false);
  assert.equal(targetsKey("v_proj,q_proj"), "qv");
});
