// AdamW's update as one fused wasm kernel (src/wasm-fused.ts) against the 14-kernel tfjs chain it replaces
// (src/optim/adamw.ts adamwUpdate with the fused kernels off): bit-identical parameters and moments over several
// steps, with and without the decoupled decay, and no tensors left behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { Rng } from "../util/rng.ts";
import { enableNativeMatmul, loadMatmulAddon } from "../native-matmul.ts";
import { fusedKernelsActive, setFusedKernels } from "../wasm-fused.ts";
import { adamScalars, adamwUpdate, zeroMoments, type AdamHyper } from "./adamw.ts";

function run(fused: boolean, h: AdamHyper, seed: number): Float32Array[] {
  const was = setFusedKernels(fused);
  try {
    const rng = Rng.derive(seed, "adamw-fused");
    const shape = [17, 29];
    const rand = (scale: number) => Float32Array.from({ length: 17 * 29 }, () => scale * rng.normal());
    const p = tf.tidy(() => tf.variable(tf.tensor2d(rand(1), shape as [number, number])));
    const mom = zeroMoments(p);
    for (let t = 1; t <= 4; t++) {
      tf.tidy(() => {
        const g = tf.tensor2d(rand(t === 3 ? 1e-3 : 1), shape as [number, number]);
        const s = adamScalars(t, 1e-2 * t, h);
        adamwUpdate(p, g, mom, s, s.decay);
      });
    }
    const out = [p, mom.m, mom.v].map((x) => x.dataSync() as Float32Array);
    tf.dispose([p, mom.m, mom.v]);
    return out;
  } finally {
    setFusedKernels(was);
  }
}

const skip =
  typeof loadMatmulAddon() === "string" ? "optional native addon not built (the fused kernels need it)" : false;

test(
  "fused AdamW update is bit-identical to the composed kernels, with and without weight decay",
  { skip },
  async () => {
    await initBackend("wasm");
    enableNativeMatmul();
    assert.ok(fusedKernelsActive());
    const base = tf.memory().numTensors;
    for (const weightDecay of [0, 0.01]) {
      const h: AdamHyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay };
      const want = run(false, h, 5);
      const got = run(true, h, 5);
      ["p", "m", "v"].forEach((name, k) => {
        for (let i = 0; i < want[k]!.length; i++) {
          if (!Object.is(got[k]![i], want[k]![i]))
            assert.fail(`wd ${weightDecay}: ${name}[${i}] ${got[k]![i]} vs ${want[k]![i]}`);
        }
      });
    }
    assert.equal(tf.memory().numTensors, base);
  },
);
