// Rotary position embedding as transformers computes it for Llama/Qwen2: inv_freq = 1/θ^(2i/hd) in float32,
// optionally rescaled by `_compute_llama3_parameters` (Llama 3.1/3.2), cos/sin of cat(freqs, freqs), and the
// rotate_half convention q' = q·cos + rotate_half(q)·sin with rotate_half(x) = cat(−x₂, x₁). float32 rounding is
// emulated (Math.fround) step by step so angles match PyTorch's float32 tables, not a float64 idealisation.
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "./model-config.ts";
import type { GradArgs } from "./linear.ts";

const f32 = Math.fround;

/** inv_freq [hd/2] after llama3 scaling if configured. */
export function ropeInvFreq(config: Pick<ModelConfig, "headDim" | "ropeTheta" | "ropeScaling">): Float32Array {
  const hd = config.headDim;
  const base = f32(config.ropeTheta);
  const inv = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = f32(1 / f32(Math.pow(base, f32(f32(2 * i) / hd))));
  const s = config.ropeScaling;
  if (!s) return inv;
  // transformers.modeling_rope_utils._compute_llama3_parameters
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const out = new Float32Array(hd / 2);
  for (let i = 0; i < inv.length; i++) {
    const f = inv[i]!;
    const wavelen = f32((2 * Math.PI) / f);
    const scaled = wavelen > lowFreqWavelen ? f32(f / s.factor) : f; // inv_freq_llama
    const smooth = f32(
      f32(f32(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor),
    );
    const smoothed = f32(f32(f32(f32(1 - smooth) * scaled) / s.factor) + f32(smooth * scaled));
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    out[i] = isMedium ? smoothed : scaled;
  }
  return out;
}

/** cos and sin tables for positions offset … offset+T−1, each [T, 1, hd] (broadcast over batch and heads). */
export function ropeTables(invFreq: Float32Array, offset: number, T: number): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const half = invFreq.length;
  const hd = 2 * half;
  const cos = new Float32Array(T * hd);
  const sin = new Float32Array(T * hd);
  for (let t = 0; t < T; t++) {
    const pos = f32(offset + t);
    for (let i = 0; i < half; i++) {
      const angle = f32(invFreq[i]! * pos);
      const c = f32(Math.cos(angle));
      const s = f32(Math.sin(angle));
      cos[t * hd + i] = c;
      cos[t * hd + half + i] = c;
      sin[t * hd + i] = s;
      sin[t * hd + half + i] = s;
    }
  }
  return { cos: tf.tensor3d(cos, [T, 1, hd]), sin: tf.tensor3d(sin, [T, 1, hd]) };
}

/** The signed permutation R [hd, hd] with x·R = rotate_half(x) = cat(−x₂, x₁). */
export function rotateHalfMatrix(hd: number): tf.Tensor2D {
  const half = hd / 2;
  const R = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) {
    R[(j + half) * hd + j] = -1; // out[j] = −x[j+half]
    R[j * hd + (j + half)] = 1; // out[j+half] = x[j]
  }
  return tf.tensor2d(R, [hd, hd]);
}

/**
 * Rotate x [B, T, n, hd] by the position tables (cos/sin [T, 1, hd]). rotate_half is a product with the constant
 * signed permutation R (2-D, XNNPACK on wasm; exact, since each output is one ±input); its gradient is ·Rᵀ = ·(−R).
 */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D, R: tf.Tensor2D): tf.Tensor4D {
  const [B, T, n, hd] = x.shape;
  const rotate = tf.customGrad((...args: GradArgs) => ({
    value: tf.matMul(args[0] as tf.Tensor2D, R), // [B·T·n, hd]
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, tf.neg(R)),
  }));
  const rotated = (rotate(tf.reshape(x, [B * T * n, hd])) as tf.Tensor2D).reshape([B, T, n, hd]);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}
