// LoRA-RITE: "LoRA Done RITE: Robust Invariant Transformation Equilibration for LoRA Optimization", Yen et al.
// (ICLR 2025), arXiv 2410.20625. Reference: the authors' PyTorch port gkevinyen5418/LoRA-RITE `lora_rite.py`
// @ 8ece053 (class LoRARite); spec in docs/optimizers.md §5, followed line by line in PEFT layout:
// two passes (unmagnify + skip for all pairs → global norm N; then clip, r×r second moments carried across basis
// changes, inverse root, transported first moment, optional cap, magnify, decoupled wd added to the direction).
// Deliberate differences (docs/optimizers.md §5): (1) the thin factorization X = Q·R is the polar/CholeskyQR2
// form computed from float32 Grams with float64 r×r algebra (R⁺ = (XᵀX)^{-1/2} twice) instead of Householder QR —
// the algorithm is invariant to the choice of orthonormal basis; accurate for κ(factor) ≲ 1e3 in float32;
// (2) V (r×r) lives on the CPU in float64; (3) eigenvalues of V are clamped at 0 before the root (the port's
// force_positive=False turns a round-off-negative eigenvalue into a NaN and silently drops the step);
// (4) a non-finite gradient matrix is skipped like an RMS skip (the port lets NaN through the `>` test).
// balance_param and relative_epsilon are not implemented (off by default; the latter crashes upstream).
// Syncs per step: two batched reads of r×r matrices.
import * as tf from "@tensorflow/tfjs";
import type { LoraRiteConfig } from "../config.ts";
import { checkPairs, gradFor } from "./adamw.ts";
import {
  allFinite,
  axpby,
  invSqrtSym,
  matmul,
  nanToNum,
  scale,
  spectralMap,
  sym,
  symEig,
  trace,
  transpose,
} from "./linalg.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraGrads, LoraOptimizer, OptimizerState, StepStats } from "./types.ts";
import { readTensor, readValues } from "../util/read.ts";

const EPS_F32 = 2 ** -23;

/** Adafactor's bias-corrected decay (§7.1 of arXiv 1804.04235); t is the 0-based step count. */
export function biasCorrectedDecay(t: number, beta: number): number {
  return (beta * (1 - beta ** t)) / (1 - beta ** (t + 1));
}

/** Per-pair state. Rank-last layout: Â = Aᵀ [in, r], B [out, r]. */
interface Slot {
  readonly MA: tf.Variable; // [in, r] first moment of A's preconditioned direction
  readonly MB: tf.Variable; // [out, r]
  readonly QA: tf.Variable; // [in, r] orthonormal basis of Â from the previous step (zeros before the first)
  readonly QB: tf.Variable; // [out, r]
  VA: Float64Array; // [r, r] second moment of A's unmagnified gradient, in B's basis
  VB: Float64Array; // [r, r] in A's basis
  rhoA: number; // escaped mass (0 unless applyEscape)
  rhoB: number;
}

interface RiteJson {
  readonly t: number;
  readonly modules: readonly string[];
  readonly VA: readonly number[][];
  readonly VB: readonly number[][];
  readonly rhoA: readonly number[];
  readonly rhoB: readonly number[];
}

/** R⁺ of the polar factorization X = Q·R with R = (XᵀX)^{1/2}, from the Gram G = XᵀX: (G)^{-1/2} with a pinv cut. */
function polarRinv(G: Float64Array, r: number): Float64Array {
  const e = symEig(G, r);
  let wmax = 0;
  for (const w of e.values) wmax = Math.max(wmax, w);
  // torch.linalg.pinv(R) on fp32 keeps σ > r·eps·σ_max; σ = √w.
  const tol = (r * EPS_F32) ** 2 * wmax;
  return spectralMap(e, r, (w) => (w > tol && w > 0 ? 1 / Math.sqrt(w) : 0));
}

const f32 = (m: Float64Array, r: number): tf.Tensor2D => tf.tensor2d(Float32Array.from(m), [r, r]);

export function createLoraRite(cfg: LoraRiteConfig, pairs: readonly LoraPair[]): LoraOptimizer {
  const name = "lora-rite";
  checkPairs(pairs, name);
  const [beta1, beta2] = cfg.betas;
  const { eps, weightDecay, clipUnmagnifiedGrad: clip, updateSkipping: skip, updateCapping: cap, applyEscape } = cfg;
  let t = 0; // 0-based count of completed steps
  const zerosVar = (shape: [number, number]): tf.Variable => tf.tidy(() => tf.variable(tf.zeros(shape), false));
  const slots: Slot[] = pairs.map((p) => ({
    MA: zerosVar([p.inDim, p.r]),
    MB: zerosVar([p.outDim, p.r]),
    QA: zerosVar([p.inDim, p.r]),
    QB: zerosVar([p.outDim, p.r]),
    VA: new Float64Array(p.r * p.r),
    VB: new Float64Array(p.r * p.r),
    rhoA: 0,
    rhoB: 0,
  }));

  // offsets[i] = Σ_{j<i} r_j², the start of pair i's r×r blocks (in units of one block per factor).
  const offsets: number[] = [];
  pairs.reduce((acc, p) => (offsets.push(acc), acc + p.r * p.r), 0);

  /** Pass 1a (device → CPU): Grams of both factors → the first polar factors R1⁺. */
  async function firstPolar(): Promise<{ A: Float64Array; B: Float64Array }[]> {
    const gram1 = await readValues(() =>
      tf.concat(
        pairs.flatMap((p) => [tf.matMul(p.A, tf.transpose(p.A)), tf.matMul(tf.transpose(p.B), p.B)]),
        0,
      ),
    );
    return pairs.map((p, i) => {
      const rr = p.r * p.r;
      const off = 2 * offsets[i]!;
      return {
        A: polarRinv(Float64Array.from(gram1.subarray(off, off + rr)), p.r),
        B: polarRinv(Float64Array.from(gram1.subarray(off + rr, off + 2 * rr)), p.r),
      };
    });
  }

  /** Pass 1b (device): Q1 = X·R1⁺, and the r×r products the CPU needs (read back in one go). */
  async function deviceProducts(grads: LoraGrads, R1: { A: Float64Array; B: Float64Array }[]) {
    const dev = tf.tidy(() => {
      const Q1A: tf.Tensor[] = [];
      const Q1B: tf.Tensor[] = [];
      const gAt: tf.Tensor[] = [];
      const mats: tf.Tensor[] = [];
      pairs.forEach((p, i) => {
        const s = slots[i]!;
        const qa = tf.matMul(tf.transpose(p.A), f32(R1[i]!.A, p.r)); // [in, r]
        const qb = tf.matMul(p.B, f32(R1[i]!.B, p.r)); // [out, r]
        const gA = gradFor(grads, p.A, name); // [r, in]
        const gB = gradFor(grads, p.B, name); // [out, r]
        const gat = tf.transpose(gA); // [in, r]
        const qat = tf.transpose(qa);
        const qbt = tf.transpose(qb);
        mats.push(
          tf.matMul(qat, qa),
          tf.matMul(qbt, qb),
          tf.matMul(qat, s.QA),
          tf.matMul(qbt, s.QB),
          tf.matMul(gA, gat),
          tf.matMul(tf.transpose(gB), gB),
        );
        Q1A.push(qa);
        Q1B.push(qb);
        gAt.push(gat);
      });
      return { Q1A, Q1B, gAt, mats: tf.concat(mats, 0) };
    });
    const m2 = await readTensor(dev.mats);
    dev.mats.dispose();

    return { dev, m2 };
  }

  /** Pass 1c (CPU): second polar pass, unmagnified-gradient Grams, skipping, and the global norm N. */
  function unmagnifiedGrams(R1: { A: Float64Array; B: Float64Array }[], m2: Float32Array) {
    let normSq = 0;
    let skipped = 0;
    let nonfinite = 0;
    const cpu = pairs.map((p, i) => {
      const r = p.r;
      const rr = r * r;
      const base = 6 * offsets[i]!;
      const at = (k: number): Float64Array => Float64Array.from(m2.subarray(base + k * rr, base + (k + 1) * rr));
      const R2A = polarRinv(sym(at(0), r), r); // Q_A = Q1_A·R2A⁺
      const R2B = polarRinv(sym(at(1), r), r);
      const RAinv = matmul(R1[i]!.A, R2A, r); // R_A⁺ with Â = Q_A·R_A
      const RBinv = matmul(R1[i]!.B, R2B, r);
      const QtQoldA = at(2); // Q1_Aᵀ·Qold_A
      const QtQoldB = at(3);
      // Ḡ_A = gAᵀ·R_B⁺  ⇒  Ḡ_AᵀḠ_A = R_B⁺ᵀ·(gA·gAᵀ)·R_B⁺;  Ḡ_B = gB·R_A⁺  ⇒  R_A⁺ᵀ·(gBᵀgB)·R_A⁺
      const HA = matmul(matmul(transpose(RBinv, r), at(4), r), RBinv, r);
      const HB = matmul(matmul(transpose(RAinv, r), at(5), r), RAinv, r);
      const judge = (H: Float64Array, rows: number): boolean => {
        const finite = allFinite(H);
        if (!finite) nonfinite++;
        const rms = Math.sqrt(trace(H, r) / (rows * r));
        const skipIt = !finite || (skip > 0 && rms > skip);
        if (skipIt) skipped++;
        else normSq += trace(H, r);
        return skipIt;
      };
      const skipA = judge(HA, p.inDim);
      const skipB = judge(HB, p.outDim);
      return { R2A, R2B, RAinv, RBinv, QtQoldA, QtQoldB, HA, HB, skipA, skipB };
    });
    return { cpu, N: Math.sqrt(normSq), skipped, nonfinite };
  }

  /** Pass 2 (CPU): second moments carried into the new bases, their inverse roots, the r×r update factors. */
  function updateFactors(
    cpu: ReturnType<typeof unmagnifiedGrams>["cpu"],
    c: number,
    b1: number,
    b2: number,
    lr: number,
  ) {
    return pairs.map((p, i) => {
      const r = p.r;
      const s = slots[i]!;
      const k = cpu[i]!;
      const PA = matmul(transpose(k.R2B, r), k.QtQoldB, r); // Q_Bᵀ·Qold_B: A's statistics live in B's basis
      const PB = matmul(transpose(k.R2A, r), k.QtQoldA, r);
      const zero = new Float64Array(r * r);
      const SA = k.skipA ? zero : scale(sym(k.HA, r), (c * c) / p.inDim);
      const SB = k.skipB ? zero : scale(sym(k.HB, r), (c * c) / p.outDim);
      const VtA = nanToNum(sym(matmul(matmul(PA, s.VA, r), transpose(PA, r), r), r));
      const VtB = nanToNum(sym(matmul(matmul(PB, s.VB, r), transpose(PB, r), r), r));
      if (applyEscape) {
        s.rhoA = b2 * (s.rhoA + escapedMass(s.VA, VtA, r));
        s.rhoB = b2 * (s.rhoB + escapedMass(s.VB, VtB, r));
      }
      s.VA = sym(axpby(1 - b2, SA, b2, VtA), r);
      s.VB = sym(axpby(1 - b2, SB, b2, VtB), r);
      const KA = invSqrtSym(s.VA, r, eps, applyEscape ? s.rhoA : 0);
      const KB = invSqrtSym(s.VB, r, eps, applyEscape ? s.rhoB : 0);
      return {
        // M ← (1−β̂1)·(c·Ḡ·K) + β̂1·M·Pᵀ, with Ḡ_A = gAᵀ·R_B⁺:  M_A ← gAᵀ·X_A + M_A·Y_A
        XA: k.skipA ? null : scale(matmul(k.RBinv, KA, r), (1 - b1) * c),
        XB: k.skipB ? null : scale(matmul(k.RAinv, KB, r), (1 - b1) * c),
        YA: b1 === 0 ? null : scale(transpose(PA, r), b1),
        YB: b1 === 0 ? null : scale(transpose(PB, r), b1),
        // ΔÂ = U_A·R_B⁺ᵀ (so ΔA = R_B⁺·U_Aᵀ), lr folded in
        ZA: scale(transpose(k.RBinv, r), lr),
        ZB: scale(transpose(k.RAinv, r), lr),
      };
    });
  }

  /** Pass 2 (device): moments, the capped update, decoupled weight decay, and the new bases. */
  function applyUpdates(
    grads: LoraGrads,
    lr: number,
    dev: Awaited<ReturnType<typeof deviceProducts>>["dev"],
    cpu: ReturnType<typeof unmagnifiedGrams>["cpu"],
    upd: ReturnType<typeof updateFactors>,
  ): void {
    tf.tidy(() => {
      const decay = weightDecay > 0 ? tf.scalar(1 - lr * weightDecay) : null;
      const capS = cap > 0 ? tf.scalar(cap) : null;
      const one = tf.scalar(1);
      const moment = (
        g: tf.Tensor,
        X: Float64Array | null,
        M: tf.Variable,
        Y: Float64Array | null,
        r: number,
      ): tf.Tensor => {
        const fresh = X ? tf.matMul(g, f32(X, r)) : null;
        const carried = Y ? tf.matMul(M, f32(Y, r)) : null;
        return fresh && carried ? tf.add(fresh, carried) : (fresh ?? carried ?? tf.zerosLike(M));
      };
      const capped = (M: tf.Tensor): tf.Tensor => {
        if (!capS) return M;
        const rms = tf.sqrt(tf.mean(tf.square(M)));
        return tf.div(M, tf.maximum(one, tf.div(rms, capS)));
      };
      pairs.forEach((p, i) => {
        const s = slots[i]!;
        const u = upd[i]!;
        const r = p.r;
        const MA = moment(dev.gAt[i]!, u.XA, s.MA, u.YA, r);
        const MB = moment(gradFor(grads, p.B, name), u.XB, s.MB, u.YB, r);
        const dA = tf.transpose(tf.matMul(capped(MA), f32(u.ZA, r))); // [r, in]
        const dB = tf.matMul(capped(MB), f32(u.ZB, r)); // [out, r]
        const A = decay ? tf.mul(p.A, decay) : p.A;
        const B = decay ? tf.mul(p.B, decay) : p.B;
        const QA = tf.matMul(dev.Q1A[i]!, f32(cpu[i]!.R2A, r));
        const QB = tf.matMul(dev.Q1B[i]!, f32(cpu[i]!.R2B, r));
        p.A.assign(tf.sub(A, dA));
        p.B.assign(tf.sub(B, dB));
        s.MA.assign(MA);
        s.MB.assign(MB);
        s.QA.assign(QA);
        s.QB.assign(QB);
      });
    });
  }

  async function step(grads: LoraGrads, lr: number): Promise<StepStats> {
    const b1 = biasCorrectedDecay(t, beta1);
    const b2 = biasCorrectedDecay(t, beta2);
    const R1 = await firstPolar();
    const { dev, m2 } = await deviceProducts(grads, R1);
    const { cpu, N, skipped, nonfinite } = unmagnifiedGrams(R1, m2);
    const c = clip > 0 && N > clip ? clip / N : 1;
    applyUpdates(grads, lr, dev, cpu, updateFactors(cpu, c, b1, b2, lr));
    tf.dispose([...dev.Q1A, ...dev.Q1B, ...dev.gAt]);
    t += 1;
    const scalars = { "rite/unmagnified_norm": N, "rite/clip_factor": c, "rite/clipped": c < 1 ? 1 : 0 };
    return { scalars: { ...scalars, "rite/skipped": skipped, "rite/nonfinite": nonfinite } };
  }

  return {
    name,
    step,
    getState(): OptimizerState {
      const tensors: Record<string, tf.Tensor> = {};
      pairs.forEach((p, i) => {
        const s = slots[i]!;
        tensors[`rite.M/${p.A.name}`] = tf.clone(s.MA);
        tensors[`rite.M/${p.B.name}`] = tf.clone(s.MB);
        tensors[`rite.Q/${p.A.name}`] = tf.clone(s.QA);
        tensors[`rite.Q/${p.B.name}`] = tf.clone(s.QB);
      });
      const json: RiteJson = {
        t,
        modules: pairs.map((p) => p.module),
        VA: slots.map((s) => Array.from(s.VA)),
        VB: slots.map((s) => Array.from(s.VB)),
        rhoA: slots.map((s) => s.rhoA),
        rhoB: slots.map((s) => s.rhoB),
      };
      return { tensors, json };
    },
    setState(state: OptimizerState): void {
      const j = state.json as RiteJson;
      if (
        typeof j?.t !== "number" ||
        !Array.isArray(j.modules) ||
        j.modules.join("\n") !== pairs.map((p) => p.module).join("\n")
      ) {
        throw new Error(
          `${name}.setState: the checkpoint's modules do not match this optimizer's ${pairs.length} pairs (was it written for other LoRA targets?)`,
        );
      }
      pairs.forEach((p, i) => {
        const s = slots[i]!;
        for (const [key, dst] of [
          [`rite.M/${p.A.name}`, s.MA],
          [`rite.M/${p.B.name}`, s.MB],
          [`rite.Q/${p.A.name}`, s.QA],
          [`rite.Q/${p.B.name}`, s.QB],
        ] as const) {
          const src = state.tensors[key];
          if (!src || src.shape.join() !== dst.shape.join())
            throw new Error(`${name}.setState: tensor "${key}" is missing or has the wrong shape`);
          dst.assign(src); // no clone: assign() keeps its own reference (a clone would leak)
        }
        const rr = p.r * p.r;
        if (j.VA[i]?.length !== rr || j.VB[i]?.length !== rr)
          throw new Error(`${name}.setState: V for ${p.module} is not ${p.r}×${p.r}`);
        s.VA = Float64Array.from(j.VA[i]!);
        s.VB = Float64Array.from(j.VB[i]!);
        s.rhoA = j.rhoA[i] ?? 0;
        s.rhoB = j.rhoB[i] ?? 0;
      });
      t = j.t;
    },
    dispose(): void {
      for (const s of slots) tf.dispose([s.MA, s.MB, s.QA, s.QB]);
    },
  };
}

/** min(max(max_i(λ↑_i(V) − λ↑_i(Ṽ)), 0), max(tr V − tr Ṽ, 0)): the mass lost by transporting V (port's escape). */
function escapedMass(V: Float64Array, Vt: Float64Array, r: number): number {
  const a = symEig(V, r).values;
  const b = symEig(Vt, r).values;
  let d = -Infinity;
  for (let i = 0; i < r; i++) d = Math.max(d, a[i]! - b[i]!);
  return Math.min(Math.max(d, 0), Math.max(trace(V, r) - trace(Vt, r), 0));
}
