// Ordering rules shared by every table and figure: natural order for models and widths (numbers by value), decoder
// order for module types, the fixed optimizer order for rows.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compareModuleTypes, naturalCompare, optimizerRank } from "./axes.ts";

test("naturalCompare: digit runs by value, text case-insensitively", () => {
  const models = ["random:d=512,L=2", "random:d=64,L=2", "random:d=128,L=2", "random:d=256,L=2"];
  assert.deepEqual([...models].sort(naturalCompare), [
    "random:d=64,L=2",
    "random:d=128,L=2",
    "random:d=256,L=2",
    "random:d=512,L=2",
  ]);
  assert.deepEqual(
    ["Qwen/Qwen2-1.5B", "Qwen/Qwen2-0.5B", "meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.2-1B"].sort(naturalCompare),
    ["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-3B", "Qwen/Qwen2-0.5B", "Qwen/Qwen2-1.5B"],
  );
  assert.ok(naturalCompare("d=64,L=2", "d=64,L=10") < 0, "a later number also compares by value");
  assert.equal(naturalCompare("a1", "a1"), 0);
  assert.ok(naturalCompare("a", "a1") < 0, "a prefix first");
});

test("module types in decoder order, optimizers in the paper's order", () => {
  assert.deepEqual(
    ["v_proj", "down_proj", "q_proj", "gate_proj", "o_proj", "k_proj", "up_proj"].sort(compareModuleTypes),
    ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  );
  assert.deepEqual(
    ["stable-lora", "lora-rite", "adamw", "riemannian", "lora-plus"].sort(
      (a, b) => optimizerRank(a) - optimizerRank(b),
    ),
    ["adamw", "lora-plus", "riemannian", "lora-rite", "stable-lora"],
  );
});
