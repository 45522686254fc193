// Tests of the LoRA-step FLOP count against the numbers measured in docs/engine.md §7
// (llama-4x256, B=8, T=128: forward 8.93 GFLOP, backward 9.49, step 18.41) and its structural rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LORA_TARGETS } from "../config.ts";
import { LLAMA_4X256 } from "./cases.ts";
import { forwardFlops, loraStepFlops } from "./flops.ts";

test("llama-4x256, r=8 on all seven projections, 8×128: the measured 18.41 GFLOP step, 8.93 forward", () => {
  const f = loraStepFlops(LLAMA_4X256, { r: 8, targets: LORA_TARGETS }, 8, 128);
  assert.equal((f.step / 1e9).toFixed(2), "18.41");
  assert.equal((f.forward / 1e9).toFixed(2), "8.93");
  assert.equal((f.backward / 1e9).toFixed(2), "9.49");
  // the parts docs/engine.md §7 lists
  assert.equal(
    f.parts.linearsForward + f.parts.lmHeadForward + f.parts.loraForward,
    2 * 1024 * (2_899_968 + 1_048_576 + 147_968),
  );
  assert.equal(f.parts.attentionForward, 536_870_912);
  assert.equal(f.parts.frozenDx, 2 * 1024 * (2_899_968 + 1_048_576 - 131_072));
  assert.equal((f.parts.loraBackward / 1e9).toFixed(2), "0.59");
  assert.equal(f.step, f.forward + f.backward);
});

test("a frozen weight costs 2 products per step (no dW), a LoRA factor 3; naive 6·P·N overcounts", () => {
  const none = loraStepFlops(LLAMA_4X256, { r: 8, targets: [] }, 8, 128);
  assert.equal(none.parts.loraForward, 0);
  assert.equal(none.parts.loraBackward, 0);
  const qv = loraStepFlops(LLAMA_4X256, { r: 8, targets: ["q_proj", "v_proj"] }, 8, 128);
  // per layer: q r·(256+256), v r·(256+128); layer-0 input dX r·256 for each
  assert.equal(qv.parts.loraForward, 2 * 1024 * 4 * 8 * (512 + 384));
  assert.equal(qv.parts.loraBackward, 2 * qv.parts.loraForward - 2 * 1024 * 8 * (256 + 256));
  assert.equal(forwardFlops(LLAMA_4X256, 8, 128), none.forward);
  assert.ok(none.step < 6 * (2_899_968 + 2 * 1_048_576) * 1024);
});

test("attention grows with T², linears with T", () => {
  const a = loraStepFlops(LLAMA_4X256, { r: 8, targets: LORA_TARGETS }, 1, 128);
  const b = loraStepFlops(LLAMA_4X256, { r: 8, targets: LORA_TARGETS }, 1, 256);
  assert.equal(b.parts.attentionForward, 4 * a.parts.attentionForward);
  assert.equal(b.parts.linearsForward, 2 * a.parts.linearsForward);
});
