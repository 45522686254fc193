// Test helpers for src/optim/*.test.ts: LoRA pairs with unique variable names, the golden fixture's two-layer LoRA
// problem (tools/reference/optim_reference.py) with its loss and gradients, configs and a per-tensor error measure.
import * as tf from "@tensorflow/tfjs";
import { readFileSync } from "node:fs";
import {
  optimizerDefaults,
  optimizerKeys,
  type LoraPlusConfig,
  type LoraRiteConfig,
  type OptimizerConfig,
  type RiemannianConfig,
  type StableLoraConfig,
} from "../config.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { OptimizerName } from "./types.ts";

let counter = 0;

/**
 * A pair with variables named `<module>#<id>.lora_A.weight` / `.lora_B.weight` (id: a fresh counter unless given, so
 * a test can re-create the same names after disposing, as a resumed run does), initialised from the given values.
 */
export function makePair(
  module: string,
  A: tf.Tensor2D | number[][],
  B: tf.Tensor2D | number[][],
  scaling = 1,
  id?: string,
): LoraPair {
  const k = id ?? String(counter++);
  const a = A instanceof tf.Tensor ? A : tf.tensor2d(A);
  const b = B instanceof tf.Tensor ? B : tf.tensor2d(B);
  const pair: LoraPair = {
    module,
    A: tf.variable(a, true, `${module}#${k}.lora_A.weight`),
    B: tf.variable(b, true, `${module}#${k}.lora_B.weight`),
    scaling,
    inDim: a.shape[1],
    outDim: b.shape[0],
    r: a.shape[0],
  };
  if (!(A instanceof tf.Tensor)) a.dispose();
  if (!(B instanceof tf.Tensor)) b.dispose();
  return pair;
}

export function copyPairs(pairs: readonly LoraPair[]): LoraPair[] {
  return pairs.map((p) => makePair(p.module, p.A as tf.Tensor2D, p.B as tf.Tensor2D, p.scaling));
}

export function disposePairs(pairs: readonly LoraPair[]): void {
  for (const p of pairs) tf.dispose([p.A, p.B]);
}

/** Any optimizer's settings (tests pass one set to all five optimizers). */
export type AnyOptimizerSettings = Partial<
  Omit<LoraPlusConfig, "name"> &
    Omit<RiemannianConfig, "name"> &
    Omit<LoraRiteConfig, "name"> &
    Omit<StableLoraConfig, "name">
>;

/** The named optimizer's defaults with those of `overrides` that it has (the others are ignored). */
export function optimizerConfig(name: OptimizerName, overrides: AnyOptimizerSettings = {}): OptimizerConfig {
  const own = optimizerKeys(name);
  return optimizerDefaults(
    name,
    Object.fromEntries(Object.entries(overrides).filter(([k]) => own.includes(k))) as never,
  );
}

/** ‖x − y‖_F / ‖y‖_F (the per-tensor comparison of docs/engine.md §6). */
export function relErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < y.length; i++) {
    d += (x[i]! - y[i]!) ** 2;
    n += y[i]! ** 2;
  }
  return Math.sqrt(d) / Math.sqrt(n || 1);
}

export interface GoldenCase {
  readonly name: string;
  readonly config: OptimizerConfig;
  readonly init: "random" | "peft";
  readonly lrs: number[];
  readonly losses: number[];
  readonly stats: Record<string, unknown>[];
  readonly A: number[][][];
  readonly B: number[][][];
}

export interface Golden {
  readonly generator: string;
  readonly problem: {
    readonly scaling: number;
    readonly r: number;
    readonly steps: number;
    readonly modules: { module: string; inDim: number; outDim: number }[];
    readonly x: number[][];
    readonly W1: number[][];
    readonly W2: number[][];
    readonly target: number[][];
    readonly A0: number[][][];
    readonly B0: number[][][];
  };
  readonly cases: GoldenCase[];
}

export const GOLDEN_PATH = new URL("./fixtures/optim-golden.json", import.meta.url);

export function loadGolden(): Golden {
  return JSON.parse(readFileSync(GOLDEN_PATH, "utf8")) as Golden;
}

/** The fixture's loss: h = tanh(x·W1ᵀ + s·(x·A1ᵀ)·B1ᵀ); y = h·W2ᵀ + s·(h·A2ᵀ)·B2ᵀ; mean((y − target)²). */
export class GoldenProblem {
  private readonly x: tf.Tensor2D;
  private readonly W1t: tf.Tensor2D;
  private readonly W2t: tf.Tensor2D;
  private readonly target: tf.Tensor2D;
  constructor(private readonly g: Golden) {
    this.x = tf.tensor2d(g.problem.x);
    this.W1t = tf.tidy(() => tf.transpose(tf.tensor2d(g.problem.W1)));
    this.W2t = tf.tidy(() => tf.transpose(tf.tensor2d(g.problem.W2)));
    this.target = tf.tensor2d(g.problem.target);
  }

  pairs(init: "random" | "peft"): LoraPair[] {
    const p = this.g.problem;
    return p.modules.map((m, i) =>
      makePair(m.module, p.A0[i]!, init === "random" ? p.B0[i]! : p.B0[i]!.map((row) => row.map(() => 0)), p.scaling),
    );
  }

  /** Gradients (keyed by variable name) at the pairs' current values, without reading anything back. */
  gradTensors(pairs: readonly LoraPair[]): tf.NamedTensorMap {
    const { value, grads } = this.lossAndGrads(pairs);
    value.dispose();
    return grads;
  }

  /** Loss and gradients (keyed by variable name) at the pairs' current values. */
  grads(pairs: readonly LoraPair[]): { loss: number; grads: tf.NamedTensorMap } {
    const { value, grads } = this.lossAndGrads(pairs);
    const loss = value.dataSync()[0]!;
    value.dispose();
    return { loss, grads };
  }

  private lossAndGrads(pairs: readonly LoraPair[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
    const s = this.g.problem.scaling;
    const [p1, p2] = pairs as [LoraPair, LoraPair];
    const lora = (h: tf.Tensor, p: LoraPair) =>
      tf.mul(tf.matMul(tf.matMul(h, tf.transpose(p.A)), tf.transpose(p.B)), s);
    const { value, grads } = tf.variableGrads(() => {
      const h = tf.tanh(tf.add(tf.matMul(this.x, this.W1t), lora(this.x, p1)));
      const y = tf.add(tf.matMul(h, this.W2t), lora(h, p2));
      return tf.mean(tf.square(tf.sub(y, this.target))) as tf.Scalar;
    }, [p1.A, p1.B, p2.A, p2.B]);
    return { value, grads };
  }

  dispose(): void {
    tf.dispose([this.x, this.W1t, this.W2t, this.target]);
  }
}
