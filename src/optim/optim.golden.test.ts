// Golden trajectories: every optimizer against the independent PyTorch references in tools/reference/optimizers.py.
// Fixture src/optim/fixtures/optim-golden.json is written by `/usr/bin/python3 tools/reference/optim_reference.py`
// (float64): 5 full-batch steps of a two-layer LoRA problem per case; we require ‖Δ‖/‖x‖ ≤ 1e-4 per tensor.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { createOptimizer } from "./index.ts";
import { GoldenProblem, disposePairs, loadGolden, relErr } from "./testing.ts";
import type { StepStats } from "./types.ts";

const golden = loadGolden();

before(async () => {
  await initBackend("wasm");
});

for (const c of golden.cases) {
  test(`golden: ${c.name} matches the PyTorch reference after ${golden.problem.steps} steps`, async () => {
    const problem = new GoldenProblem(golden);
    const pairs = problem.pairs(c.init);
    const opt = createOptimizer(c.config, pairs);
    const stats: StepStats[] = [];
    for (let k = 0; k < c.lrs.length; k++) {
      const { loss, grads } = problem.grads(pairs);
      assert.ok(
        Math.abs(loss - c.losses[k]!) <= 1e-4 * Math.abs(c.losses[k]!),
        `${c.name} step ${k + 1}: loss ${loss} vs reference ${c.losses[k]}`,
      );
      stats.push(await opt.step(grads, c.lrs[k]!));
      tf.dispose(Object.values(grads));
    }
    pairs.forEach((p, i) => {
      const eA = relErr(p.A.dataSync(), c.A[i]!.flat());
      const eB = relErr(p.B.dataSync(), c.B[i]!.flat());
      assert.ok(eA <= 1e-4, `${c.name} ${p.module}.A: relative error ${eA.toExponential(2)} > 1e-4`);
      assert.ok(eB <= 1e-4, `${c.name} ${p.module}.B: relative error ${eB.toExponential(2)} > 1e-4`);
    });
    // The stats the reference also reports.
    c.stats.forEach((ref, k) => {
      const got = stats[k]!;
      if (c.config.name === "stable-lora") {
        assert.equal(got.scalars["stable/shrinking"], ref["shrinking"], `${c.name} step ${k + 1}: shrinking count`);
        pairs.forEach((p, i) =>
          assert.equal(
            got.modules?.[p.module]?.["stopStep"],
            (ref["stopStep"] as (number | null)[])[i],
            `${c.name} step ${k + 1}: ${p.module} stop step`,
          ),
        );
      }
      if (c.config.name === "lora-rite") {
        const N = ref["unmagnified_norm"] as number;
        assert.ok(
          Math.abs(got.scalars["rite/unmagnified_norm"]! - N) <= 1e-4 * Math.max(N, 1e-3),
          `${c.name} step ${k + 1}: N ${got.scalars["rite/unmagnified_norm"]} vs ${N}`,
        );
        assert.equal(got.scalars["rite/skipped"], ref["skipped"], `${c.name} step ${k + 1}: skipped`);
        assert.ok(
          Math.abs(got.scalars["rite/clip_factor"]! - (ref["clip_factor"] as number)) <= 1e-4,
          `${c.name} step ${k + 1}: clip factor`,
        );
      }
      if (c.config.name === "riemannian") {
        const cond = ref["cond_max"] as number;
        assert.ok(
          Math.abs(got.scalars["riemannian/cond_max"]! - cond) <= 1e-2 * cond,
          `${c.name} step ${k + 1}: cond ${got.scalars["riemannian/cond_max"]} vs ${cond}`,
        );
      }
    });
    opt.dispose();
    disposePairs(pairs);
    problem.dispose();
  });
}
