// AdamW exactly as torch.optim.AdamW (single-tensor path, amsgrad=False), plus the helpers every optimizer here
// reuses: per-tensor moments, the per-step scalars, gradient lookup by variable name, state save/restore.
// Per tensor, step t = 1, 2, …  (docs/optimizers.md §2):
//   p ← p·(1 − lr·wd)   (decoupled decay, BEFORE the moments);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
// Kept tight: 13–14 elementwise kernels per tensor, scalars created once per step and shared by all tensors.
import * as tf from "@tensorflow/tfjs";
import type { AdamLikeConfig } from "../config.ts";
import type { LoraPair } from "../lora/pair.ts";
import { fusedAdamw, fusedKernelsActive } from "../wasm-fused.ts";
import type { LoraGrads, LoraOptimizer, OptimizerState, StepStats } from "./types.ts";

export interface AdamHyper {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

export function adamHyper(cfg: AdamLikeConfig): AdamHyper {
  return { beta1: cfg.betas[0], beta2: cfg.betas[1], eps: cfg.eps, weightDecay: cfg.weightDecay };
}

/** First and second moments of one parameter tensor (same shape, float32, zeros at start). */
export interface Moments {
  readonly m: tf.Variable;
  readonly v: tf.Variable;
}

/** The scalars of one step at one learning rate; create inside the step's tf.tidy. */
export interface AdamScalars {
  readonly beta1: tf.Scalar;
  readonly oneMinusBeta1: tf.Scalar;
  readonly beta2: tf.Scalar;
  readonly oneMinusBeta2: tf.Scalar;
  readonly sqrtBc2: tf.Scalar;
  readonly eps: tf.Scalar;
  /** −lr / (1 − β1^t). */
  readonly negStepSize: tf.Scalar;
  /** 1 − lr·wd, or null when wd = 0 (no multiply at all). */
  readonly decay: tf.Scalar | null;
}

export function adamScalars(t: number, lr: number, h: AdamHyper): AdamScalars {
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  const decay = 1 - lr * h.weightDecay;
  return {
    beta1: tf.scalar(h.beta1),
    oneMinusBeta1: tf.scalar(1 - h.beta1),
    beta2: tf.scalar(h.beta2),
    oneMinusBeta2: tf.scalar(1 - h.beta2),
    sqrtBc2: tf.scalar(Math.sqrt(bc2)),
    eps: tf.scalar(h.eps),
    negStepSize: tf.scalar(-lr / bc1),
    decay: decay === 1 ? null : tf.scalar(decay),
  };
}

/**
 * One AdamW update of `p` with gradient `g` (call inside tf.tidy). `decay` multiplies p before the moment update
 * (AdamScalars.decay, or Stable-LoRA's shrink·decay); null skips the multiply.
 */
export function adamwUpdate(p: tf.Variable, g: tf.Tensor, mom: Moments, s: AdamScalars, decay: tf.Scalar | null): void {
  if (fusedKernelsActive()) {
    // The same float32 operations in one kernel on wasm (src/wasm-fused.ts): bit-identical, 14 dispatches → 1.
    const [p2, m2, v2] = fusedAdamw(p, g, mom.m, mom.v, s, decay);
    p.assign(p2!);
    mom.m.assign(m2!);
    mom.v.assign(v2!);
    return;
  }
  const m = tf.add(tf.mul(mom.m, s.beta1), tf.mul(g, s.oneMinusBeta1));
  const v = tf.add(tf.mul(mom.v, s.beta2), tf.mul(tf.square(g), s.oneMinusBeta2));
  const denom = tf.add(tf.div(tf.sqrt(v), s.sqrtBc2), s.eps);
  const base = decay === null ? p : tf.mul(p, decay);
  p.assign(tf.add(base, tf.mul(tf.div(m, denom), s.negStepSize)));
  mom.m.assign(m);
  mom.v.assign(v);
}

/** The gradient of variable `v` in `grads` (keyed by variable name), checked for presence and shape. */
export function gradFor(grads: LoraGrads, v: tf.Variable, who: string): tf.Tensor {
  const g = grads[v.name];
  if (!g) {
    throw new Error(
      `${who}: no gradient for "${v.name}" (have: ${Object.keys(grads).slice(0, 6).join(", ")}…). ` +
        `Pass tf.variableGrads' output for every LoRA variable; grads are looked up by variable name.`,
    );
  }
  if (g.shape.length !== v.shape.length || g.shape.some((d, i) => d !== v.shape[i])) {
    throw new Error(`${who}: gradient for "${v.name}" has shape [${g.shape}], variable has [${v.shape}]`);
  }
  return g;
}

/** Check the pairs' shapes against their declared dims and that every variable name is unique. */
export function checkPairs(pairs: readonly LoraPair[], who: string): void {
  const seen = new Set<string>();
  for (const p of pairs) {
    const [ar, ain] = p.A.shape;
    const [bout, br] = p.B.shape;
    if (p.A.shape.length !== 2 || ar !== p.r || ain !== p.inDim)
      throw new Error(`${who}: ${p.module}: A has shape [${p.A.shape}], expected [r=${p.r}, in=${p.inDim}]`);
    if (p.B.shape.length !== 2 || bout !== p.outDim || br !== p.r)
      throw new Error(`${who}: ${p.module}: B has shape [${p.B.shape}], expected [out=${p.outDim}, r=${p.r}]`);
    for (const name of [p.A.name, p.B.name]) {
      if (seen.has(name)) throw new Error(`${who}: variable "${name}" appears in more than one pair`);
      seen.add(name);
    }
  }
}

export function zeroMoments(p: tf.Variable): Moments {
  return tf.tidy(() => ({ m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) }));
}

/** AdamW moments for every A and B, keyed by variable name, plus the shared step count t. */
export interface AdamState {
  t: number;
  readonly moments: Map<string, Moments>;
}

export function createAdamState(pairs: readonly LoraPair[]): AdamState {
  const moments = new Map<string, Moments>();
  for (const p of pairs) for (const v of [p.A, p.B]) moments.set(v.name, zeroMoments(v));
  return { t: 0, moments };
}

export function momentsOf(s: AdamState, v: tf.Variable): Moments {
  const m = s.moments.get(v.name);
  if (!m) throw new Error(`adamw: no moments for "${v.name}" (the optimizer was created for other pairs)`);
  return m;
}

/** Copies of the moments as `adam.m/<name>`, `adam.v/<name>` (caller disposes). */
export function saveAdamState(s: AdamState): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, mom] of s.moments) {
    out[`adam.m/${name}`] = tf.clone(mom.m);
    out[`adam.v/${name}`] = tf.clone(mom.v);
  }
  return out;
}

export function restoreAdamState(
  s: AdamState,
  t: number,
  tensors: Readonly<Record<string, tf.Tensor>>,
  who: string,
): void {
  for (const [name, mom] of s.moments) {
    for (const [key, dst] of [
      [`adam.m/${name}`, mom.m],
      [`adam.v/${name}`, mom.v],
    ] as const) {
      const src = tensors[key];
      if (!src)
        throw new Error(`${who}.setState: checkpoint has no tensor "${key}" (was it written for other LoRA targets?)`);
      if (src.shape.join() !== dst.shape.join())
        throw new Error(`${who}.setState: "${key}" has shape [${src.shape}], expected [${dst.shape}]`);
      // assign() takes its own reference to src's data; a clone here would leak one tensor per moment.
      dst.assign(src);
    }
  }
  if (!Number.isInteger(t) || t < 0) throw new Error(`${who}.setState: bad step count ${String(t)}`);
  s.t = t;
}

export function disposeAdamState(s: AdamState): void {
  for (const mom of s.moments.values()) {
    mom.m.dispose();
    mom.v.dispose();
  }
  s.moments.clear();
}

export function stepCountFrom(json: unknown, who: string): number {
  const t = (json as { t?: unknown } | null)?.t;
  if (typeof t !== "number") throw new Error(`${who}.setState: state.json.t is missing`);
  return t;
}

/**
 * AdamW (and LoRA+, which is AdamW with lr_B = lrRatio·lr_A: docs/optimizers.md §3). With lrRatio = 1 this is exactly
 * plain AdamW: same kernels, same scalars.
 */
/** getState/setState/dispose of an optimizer whose whole state is the Adam moments and step count. */
export function adamStateMethods(
  state: AdamState,
  name: string,
): Pick<LoraOptimizer, "getState" | "setState" | "dispose"> {
  return {
    getState: (): OptimizerState => ({ tensors: saveAdamState(state), json: { t: state.t } }),
    setState: (s: OptimizerState): void => restoreAdamState(state, stepCountFrom(s.json, name), s.tensors, name),
    dispose: (): void => disposeAdamState(state),
  };
}

export function createAdamW(
  cfg: AdamLikeConfig,
  pairs: readonly LoraPair[],
  lrRatio = 1,
  name: "adamw" | "lora-plus" = "adamw",
): LoraOptimizer {
  checkPairs(pairs, name);
  const h = adamHyper(cfg);
  const state = createAdamState(pairs);
  return {
    name,
    async step(grads: LoraGrads, lr: number): Promise<StepStats> {
      state.t += 1;
      tf.tidy(() => {
        const sA = adamScalars(state.t, lr, h);
        const sB = lrRatio === 1 ? sA : adamScalars(state.t, lr * lrRatio, h);
        for (const p of pairs) {
          adamwUpdate(p.A, gradFor(grads, p.A, name), momentsOf(state, p.A), sA, sA.decay);
          adamwUpdate(p.B, gradFor(grads, p.B, name), momentsOf(state, p.B), sB, sB.decay);
        }
      });
      return { scalars: {} };
    },
    ...adamStateMethods(state, name),
  };
}
