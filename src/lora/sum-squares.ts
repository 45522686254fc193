// Σx² of many tensors as one [n] tensor: the squared Frobenius norms of LoRA factors and their gradients, which the
// stability signals log every step and Stable-LoRA's stop condition tests. One fused kernel on wasm with the native
// addon (src/wasm-fused.ts: the same float32 sums tf.sum(tf.square(x)) forms), else two kernels per tensor.
import * as tf from "@tensorflow/tfjs";
import { fusedKernelsActive, fusedSumSquares } from "../wasm-fused.ts";

/** [Σ x₀², Σ x₁², …]; call inside a tidy. */
export function sumsOfSquares(xs: readonly tf.Tensor[]): tf.Tensor1D {
  if (fusedKernelsActive()) return fusedSumSquares(xs);
  return tf.stack(xs.map((x) => tf.sum(tf.square(x)))) as tf.Tensor1D;
}
