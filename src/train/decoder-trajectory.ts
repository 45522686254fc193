// The decoder-level golden trajectories (src/optim/fixtures/decoder-trajectory.json, written by
// `/usr/bin/python3 tools/reference/decoder_trajectory.py`): each case's 5 full-batch steps on a tiny checkpoint,
// checked against PyTorch on whichever backend is selected. Used by decoder-trajectory.test.ts (wasm) and
// src/train/webgpu.e2e.test.ts (webgpu); every read is asynchronous.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import type { LoraTarget, OptimizerConfig } from "../config.ts";
import { disposePairs, injectLora, loadAdapter } from "../lora/lora.ts";
import { readPeftAdapter } from "../lora/peft-format.ts";
import { loadDecoder } from "../models/load.ts";
import type { Decoder } from "../models/decoder.ts";
import { batchFromSequences, type TokenBatch } from "../models/batch.ts";
import { continuationLoss } from "./loss.ts";
import { Rng } from "../util/rng.ts";
import { createOptimizer } from "../optim/index.ts";
import { optimizerConfig, relErr, type AnyOptimizerSettings } from "../optim/testing.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { StepStats } from "../optim/types.ts";

export interface TrajectoryCase {
  readonly name: string;
  readonly overrides: AnyOptimizerSettings & { name?: OptimizerConfig["name"] };
  readonly config: OptimizerConfig;
  readonly lr: number;
  readonly losses: number[];
  readonly stats: Record<string, unknown>[];
  /** base64 little-endian float32, row-major, one per module in `modules` order. */
  readonly A: string[];
  readonly B: string[];
}

export interface TrajectoryModel {
  readonly model: string;
  readonly adapter: string;
  readonly targets: LoraTarget[];
  readonly r: number;
  readonly alpha: number;
  readonly modules: string[];
  readonly batch: {
    readonly sequences: { context: number[]; continuation: number[] }[];
    readonly B: number;
    readonly T: number;
    readonly ids: number[];
    readonly targets: number[];
    readonly mask: number[];
  };
  readonly cases: TrajectoryCase[];
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
const MODELS_DIR = path.resolve(HERE, "../models/fixtures");
const OPTIM_FIXTURES = path.resolve(HERE, "../optim/fixtures");
export const fixture = JSON.parse(fs.readFileSync(path.join(OPTIM_FIXTURES, "decoder-trajectory.json"), "utf8")) as {
  steps: number;
  models: TrajectoryModel[];
};

function f32(b64: string): Float32Array {
  const bytes = Buffer.from(b64, "base64");
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

/** The fixture's batch via batchFromSequences, checked against the arrays PyTorch used. */
function fixtureBatch(m: TrajectoryModel): TokenBatch {
  const batch = batchFromSequences(m.batch.sequences, 1024);
  assert.equal(batch.B, m.batch.B);
  assert.equal(batch.T, m.batch.T);
  assert.deepEqual(Array.from(batch.ids), m.batch.ids, `${m.model}: batch ids differ from the fixture's`);
  assert.deepEqual(Array.from(batch.targets), m.batch.targets);
  assert.deepEqual(Array.from(batch.mask), m.batch.mask);
  return batch;
}

/** LoRA pairs attached to the decoder with the fixture adapter's values, in the fixture's module order. */
function attachAdapter(decoder: Decoder, m: TrajectoryModel): LoraPair[] {
  const dir = path.join(MODELS_DIR, m.model, m.adapter);
  let pairs: LoraPair[];
  if (m.targets.length === 7) {
    pairs = loadAdapter(decoder, dir);
  } else {
    pairs = injectLora(decoder, { r: m.r, alpha: m.alpha, targets: m.targets, dropout: 0, rslora: false }, new Rng(0));
    const byModule = new Map(readPeftAdapter(dir).tensors.map((t) => [t.module, t]));
    for (const p of pairs) {
      const t = byModule.get(p.module);
      assert.ok(t, `${dir}: no adapter tensors for ${p.module}`);
      tf.tidy(() => {
        p.A.assign(tf.tensor2d(t.A.data, t.A.shape));
        p.B.assign(tf.tensor2d(t.B.data, t.B.shape));
      });
    }
  }
  assert.deepEqual(
    pairs.map((p) => p.module),
    m.modules,
    `${m.model}: module order differs from the fixture's`,
  );
  for (const p of pairs) assert.equal(p.scaling, m.alpha / m.r);
  return pairs;
}

/** Five steps of `cfg` from the fixture adapter; returns the losses, stats and final factors. */
async function runTrajectory(m: TrajectoryModel, cfg: OptimizerConfig, lr: number) {
  const decoder = loadDecoder(path.join(MODELS_DIR, m.model));
  try {
    const batch = fixtureBatch(m);
    const baseline = tf.memory().numTensors;
    const pairs = attachAdapter(decoder, m);
    const opt = createOptimizer(cfg, pairs);
    const vars = pairs.flatMap((p) => [p.A, p.B]);
    const losses: number[] = [];
    const stats: StepStats[] = [];
    const counts: number[] = [];
    for (let k = 0; k < fixture.steps; k++) {
      const { value, grads } = tf.variableGrads(() => continuationLoss(decoder, batch), vars);
      losses.push((await value.data())[0]!);
      stats.push(await opt.step(grads, lr));
      tf.dispose([value, ...Object.values(grads)]);
      counts.push(tf.memory().numTensors);
    }
    const A: Float32Array[] = [];
    const B: Float32Array[] = [];
    for (const p of pairs) {
      A.push((await p.A.data()) as Float32Array);
      B.push((await p.B.data()) as Float32Array);
    }
    opt.dispose();
    disposePairs(decoder.removeLora());
    const leaked = tf.memory().numTensors - baseline;
    return { losses, stats, A, B, counts, leaked };
  } finally {
    decoder.dispose();
  }
}

/** Run one case on the current backend and assert it matches PyTorch. */
export async function checkCase(m: TrajectoryModel, c: TrajectoryCase): Promise<void> {
  const cfg: OptimizerConfig = optimizerConfig(c.overrides.name ?? "adamw", { lr: c.lr, ...c.overrides });
  // The fixture's config lists every optimizer's settings; this optimizer's must equal its defaults + overrides.
  const own = Object.fromEntries(Object.keys(cfg).map((k) => [k, (c.config as Record<string, unknown>)[k]]));
  assert.deepEqual(
    cfg,
    own,
    `${c.name}: the fixture was made with other defaults; re-run tools/reference/decoder_trajectory.py`,
  );
  const got = await runTrajectory(m, cfg, c.lr);

  got.losses.forEach((loss, k) => {
    const ref = c.losses[k]!;
    // 1e-5 relative, and 1e-5 nats absolute once the loss is below 1 (five steps at lr 1e-2 reach ~0.2 nats).
    assert.ok(
      Math.abs(loss - ref) <= 1e-5 * Math.max(Math.abs(ref), 1),
      `${m.model} ${c.name} step ${k + 1}: loss ${loss} vs PyTorch ${ref}`,
    );
  });
  const init = new Map(readPeftAdapter(path.join(MODELS_DIR, m.model, m.adapter)).tensors.map((t) => [t.module, t]));
  m.modules.forEach((module, i) => {
    for (const [w, mine, ref] of [
      ["A", got.A[i]!, f32(c.A[i]!)],
      ["B", got.B[i]!, f32(c.B[i]!)],
    ] as const) {
      assert.equal(mine.length, ref.length, `${module}.${w}: size`);
      const e = relErr(mine, ref);
      assert.ok(e <= 1e-4, `${m.model} ${c.name} ${module}.lora_${w}: ‖Δ‖/‖x‖ = ${e.toExponential(2)} > 1e-4`);
      // The factors must have moved far more than the tolerance, or the comparison says nothing.
      const moved = relErr(init.get(module)![w].data, ref);
      assert.ok(moved > 1e-2, `${module}.lora_${w} moved only ${moved.toExponential(2)} in ${fixture.steps} steps`);
    }
  });

  c.stats.forEach((ref, k) => {
    const s = got.stats[k]!;
    const at = `${m.model} ${c.name} step ${k + 1}`;
    if (cfg.name === "stable-lora") {
      assert.equal(s.scalars["stable/shrinking"], ref["shrinking"], `${at}: modules still shrinking`);
      const stops = ref["stopStep"] as (number | null)[];
      m.modules.forEach((module, i) =>
        assert.equal(s.modules?.[module]?.["stopStep"], stops[i], `${at}: ${module} stop step`),
      );
    }
    if (cfg.name === "lora-rite") {
      const N = ref["unmagnified_norm"] as number;
      assert.ok(
        Math.abs(s.scalars["rite/unmagnified_norm"]! - N) <= 1e-4 * N,
        `${at}: unmagnified norm ${s.scalars["rite/unmagnified_norm"]} vs ${N}`,
      );
      assert.ok(
        Math.abs(s.scalars["rite/clip_factor"]! - (ref["clip_factor"] as number)) <=
          1e-4 * (ref["clip_factor"] as number),
        `${at}: clip factor`,
      );
      assert.equal(s.scalars["rite/skipped"], ref["skipped"], `${at}: skipped factors`);
    }
    if (cfg.name === "riemannian") {
      const cond = ref["cond_max"] as number;
      assert.ok(
        Math.abs(s.scalars["riemannian/cond_max"]! - cond) <= 1e-3 * cond,
        `${at}: cond ${s.scalars["riemannian/cond_max"]} vs ${cond}`,
      );
    }
  });
  if (cfg.name === "stable-lora" && m.model === "qwen2-tiny") {
    const stops = (c.stats.at(-1)!["stopStep"] as (number | null)[]).filter((x) => x !== null);
    assert.ok(stops.length > 0 && new Set(stops).size > 1, "the fixture should make modules stop, at different steps");
  }

  assert.ok(
    got.counts.every((n) => n === got.counts[0]),
    `tensor count drifts across steps: ${got.counts.join(", ")}`,
  );
  assert.equal(got.leaked, 0, `${got.leaked} tensor(s) left after disposing the optimizer and the pairs`);
}
