// The spectrum of ΔW = s·B·A ([out, in], rank ≤ r) without forming it: σ(BA)² are the eigenvalues of the r×r
// symmetric matrix (AAᵀ)^½·BᵀB·(AAᵀ)^½. Reports spectral and nuclear norm and the effective rank
// exp(H(σ/Σσ)) (Roy & Vetterli 2007) — the "low-rank, small-magnitude vs high-rank, large-magnitude" regimes of
// arXiv 2502.09376.
import * as tf from "@tensorflow/tfjs";
import type { LoraPair } from "../lora/pair.ts";
import type { DeltaWSpectrum } from "../results.ts";
import { readMany } from "../util/read.ts";
import { matmul, spectralMap, sym, symEig } from "../optim/linalg.ts";

export function spectrumFromGrams(AAt: Float64Array, BtB: Float64Array, r: number, scaling: number): DeltaWSpectrum {
  const root = spectralMap(symEig(sym(AAt, r), r), r, (w) => Math.sqrt(Math.max(w, 0)));
  const M = sym(matmul(matmul(root, BtB, r), root, r), r);
  const sv = Array.from(symEig(M, r).values, (w) => scaling * Math.sqrt(Math.max(w, 0))).sort((a, b) => b - a);
  const nuclear = sv.reduce((s, x) => s + x, 0);
  let entropy = 0;
  for (const x of sv) if (x > 0 && nuclear > 0) entropy -= (x / nuclear) * Math.log(x / nuclear);
  return {
    singularValues: sv,
    spectralNorm: sv[0] ?? 0,
    nuclearNorm: nuclear,
    effectiveRank: nuclear > 0 ? Math.exp(entropy) : 0,
  };
}

export async function deltaWSpectrum(pair: LoraPair): Promise<DeltaWSpectrum> {
  const [AAt, BtB] = await readMany(() => [
    tf.matMul(pair.A, tf.transpose(pair.A)), // [r, r]
    tf.matMul(tf.transpose(pair.B), pair.B), // [r, r]
  ]);
  return spectrumFromGrams(Float64Array.from(AAt!), Float64Array.from(BtB!), pair.r, pair.scaling);
}
