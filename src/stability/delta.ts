// The feature-update decomposition of docs/paper.md §1: for a module with input Z (rows = tokens),
//   ΔY = s·Z·(B'A' − BA)ᵀ = δ1 + δ2 + δ3,  δ1 = s·ΔB·A·Z,  δ2 = s·B·ΔA·Z,  δ3 = s·ΔB·ΔA·Z
// (written for row-major Z [N, in] as δ1 = s·(Z·Aᵀ)·ΔBᵀ etc.). ΔA, ΔB are the whole change of one optimizer step
// (shrink and weight decay included). We log the RMS of each term and check the identity.
import * as tf from "@tensorflow/tfjs";
import type { DeltaSignals } from "../results.ts";
import { readValues } from "../util/read.ts";

export interface FactorSnapshot {
  readonly A: tf.Tensor; // [r, in]
  readonly B: tf.Tensor; // [out, r]
}

/** RMS of δ1, δ2, δ3 and ΔY for each module; one asynchronous read for all modules. */
export async function deltaTerms(
  modules: readonly {
    module: string;
    before: FactorSnapshot;
    after: FactorSnapshot;
    Z: tf.Tensor2D;
    scaling: number;
  }[],
): Promise<Record<string, DeltaSignals>> {
  const vals = await readValues(() => {
    const parts: tf.Tensor[] = [];
    for (const m of modules) {
      const { A, B } = m.before;
      const dA = tf.sub(m.after.A, A),
        dB = tf.sub(m.after.B, B);
      const s = m.scaling;
      const ZA = tf.matMul(m.Z, tf.transpose(A)); // [N, r]
      const ZdA = tf.matMul(m.Z, tf.transpose(dA)); // [N, r]
      const d1 = tf.mul(tf.matMul(ZA, tf.transpose(dB)), s); // [N, out]
      const d2 = tf.mul(tf.matMul(ZdA, tf.transpose(B)), s);
      const d3 = tf.mul(tf.matMul(ZdA, tf.transpose(dB)), s);
      const ZA1 = tf.matMul(m.Z, tf.transpose(m.after.A));
      const dY = tf.mul(tf.sub(tf.matMul(ZA1, tf.transpose(m.after.B)), tf.matMul(ZA, tf.transpose(B))), s);
      const resid = tf.sub(dY, tf.addN([d1, d2, d3]));
      const n = d1.size;
      for (const t of [d1, d2, d3, dY]) parts.push(tf.sqrt(tf.div(tf.sum(tf.square(t)), n)));
      parts.push(tf.sqrt(tf.div(tf.sum(tf.square(resid)), n)));
    }
    return parts.length ? tf.stack(parts) : tf.zeros([0]);
  });
  const out: Record<string, DeltaSignals> = {};
  modules.forEach((m, i) => {
    const [d1, d2, d3, dY, res] = Array.from(vals.subarray(5 * i, 5 * i + 5));
    out[m.module] = { d1: d1!, d2: d2!, d3: d3!, dY: dY!, identityError: dY! > 0 ? res! / dY! : 0 };
  });
  return out;
}
