// Parity of the decoder with PyTorch on the two tiny checkpoints in ./fixtures (written, with their golden.json, by
// `/usr/bin/python3 tools/reference/make_tiny_checkpoints.py`, whose model is tools/reference/reference_model.py):
// base logits, the LoRA continuation loss with dA/dB on all seven targets, greedy generation (KV cache and full
// forward), on wasm (and the cpu oracle for one case). Tolerances per docs/engine.md §6: 1e-4 relative per tensor.
import { test } from "node:test";
import { initBackend } from "../backend.ts";
import { checkGreedy, checkLogits, checkLoraGrads } from "../train/parity.ts";

for (const name of ["qwen2-tiny", "llama-tiny"]) {
  test(`${name}: logits match PyTorch (wasm)`, async () => {
    await initBackend("wasm");
    await checkLogits(name);
  });
  test(`${name}: LoRA loss and dA/dB on q,k,v,o,gate,up,down match PyTorch (wasm)`, async () => {
    await initBackend("wasm");
    await checkLoraGrads(name);
  });
  test(`${name}: greedy generation with the KV cache equals PyTorch and the full forward (wasm)`, async () => {
    await initBackend("wasm");
    await checkGreedy(name);
  });
}

test("llama-tiny: logits and LoRA gradients match PyTorch on the cpu backend too", async () => {
  await initBackend("cpu");
  try {
    await checkLogits("llama-tiny");
    await checkLoraGrads("llama-tiny");
  } finally {
    await initBackend("wasm");
  }
});
