// End-to-end golden trajectories: each optimizer takes 5 full-batch steps on the tiny checkpoints
// (src/models/fixtures/qwen2-tiny: all seven targets from its adapter; llama-tiny: q_proj, v_proj, down_proj) from the
// fixture adapter, with our decoder, LoRA and continuation loss on wasm, and must land on PyTorch's adapter:
// ‖Δ‖/‖x‖ ≤ 1e-4 for every A and B, per-step losses within 1e-5 relative, equal Stable-LoRA stop steps, no leaks.
// Fixture src/optim/fixtures/decoder-trajectory.json is written by
// `/usr/bin/python3 tools/reference/decoder_trajectory.py` (reference_model.py + optimizers.py, float32).
import { test } from "node:test";
import { initBackend } from "../backend.ts";
import { checkCase, fixture } from "../train/decoder-trajectory.ts";

for (const m of fixture.models) {
  for (const c of m.cases) {
    test(`${m.model}: ${c.name} after ${fixture.steps} full-batch steps matches PyTorch (wasm)`, async () => {
      await initBackend("wasm");
      await checkCase(m, c);
    });
  }
}
