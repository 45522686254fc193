// The matrix products the decoder is made of, each formed the fast way for the matmul kernel in use. tfjs-wasm's own
// kernel runs only 2-D products without transpose flags on XNNPACK, anything else on a ~15× slower loop
// (docs/engine.md §2), so there every transpose is an explicit tf.transpose; the native kernel
// (src/native-matmul.ts) and the other backends take transpose flags at full speed, so there no operand is copied.
// Custom gradients keep frozen weights out of autodiff and choose the cheaper layout for each gradient product.
import * as tf from "@tensorflow/tfjs";
import { nativeMatmulActive } from "../native-matmul.ts";
import { fusedGatherRows, fusedKernelsActive } from "../wasm-fused.ts";

/** tf.customGrad passes the inputs, then a save function, as one rest list. */
export type GradArgs = Array<tf.Tensor | tf.GradSaveFunc>;

/**
 * Whether the active matmul kernel runs transposed operands at full speed (wasm: only the native addon does). Asked
 * of the engine itself — the backend tfjs dispatches to and the kernel registered for it — rather than of a copy of
 * the backend choice, so the layout cannot disagree with the kernel that runs.
 */
function transposeFlagsAreFast(): boolean {
  return tf.getBackend() !== "wasm" || nativeMatmulActive();
}

/** op(a)·op(b) with op = transpose where asked: transpose flags, or explicit transposes for tfjs-wasm's XNNPACK path. */
export function product<T extends tf.Tensor>(a: T, b: T, transposeA = false, transposeB = false): T {
  if (transposeFlagsAreFast()) return tf.matMul(a, b, transposeA, transposeB) as T;
  const t = (x: T): T =>
    (x.rank === 2
      ? tf.transpose(x)
      : tf.transpose(
          x,
          [...x.shape.keys()].map((i) => (i < x.rank - 2 ? i : 2 * x.rank - 3 - i)),
        )) as T;
  return tf.matMul(transposeA ? t(a) : a, transposeB ? t(b) : b) as T;
}

/**
 * y = x·Wt (+ bias) for a frozen weight stored pre-transposed, Wt [in, out] (HF keeps W [out, in]).
 * Gradient for x only: dx = dy·Wtᵀ. Wt and bias are captured, not inputs, so no weight gradient is ever formed.
 */
export function frozenLinear(x: tf.Tensor2D, Wt: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((...args: GradArgs) => {
    const x = args[0] as tf.Tensor2D;
    return {
      value: bias ? tf.add(tf.matMul(x, Wt), bias) : tf.matMul(x, Wt), // [N, out]
      gradFunc: (dy: tf.Tensor) => product(dy as tf.Tensor2D, Wt, false, true), // [N, in]
    };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * y = x·Wᵀ for a frozen weight kept in HF layout, W [out, in] (the lm_head, which is the embedding matrix when tied:
 * one copy serves the lookup, the forward and the backward). Gradient for x only: dx = dy·W, with no transpose.
 */
export function frozenLinearT(x: tf.Tensor2D, W: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: GradArgs) => ({
    value: product(args[0] as tf.Tensor2D, W, false, true), // [N, out]
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, W), // [N, in]
  }));
  return f(x) as tf.Tensor2D;
}

/**
 * a·bᵀ with gradients for both operands, b kept in its stored [m, k] layout (LoRA's A [r, in] and B [out, r]), so
 * the backward needs no transpose of b: da = dy·b. On the explicit-transpose path, db = dyᵀ·a transposes the
 * thinner of dy [N, m] and a [N, k] (transpose(dy)·a when m ≤ k, else transpose(aᵀ·dy)): copying a [1024, 688]
 * operand costs ~10× the whole product with an r = 8 operand (LoRA dA: ~2.7 → ~0.2 ms per module on wasm).
 */
export function matMulT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: GradArgs) => {
    const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([a, b]);
    return {
      value: product(a, b, false, true), // [N, k]·[k, m] → [N, m]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        const db =
          transposeFlagsAreFast() || g.shape[1] <= sa.shape[1]
            ? product(g, sa, true, false)
            : tf.transpose(tf.matMul(tf.transpose(sa), g)); // [m, k]
        return [tf.matMul(g, sb), db]; // da [N, k], db [m, k]
      },
    };
  });
  return f(a, b) as tf.Tensor2D;
}

/**
 * Rows of x [N, d] at indices rows [M] → [M, d]: a gather (the addon's row copy on wasm; tfjs-wasm's GatherV2 is
 * slow). Differentiable when the rows are distinct: the backward scatters dy into zeros (tf.gather's own gradient,
 * UnsortedSegmentSum, is missing on wasm; with distinct rows the scatter adds nothing, so both ways are exact copies).
 */
export function gatherRows(x: tf.Tensor2D, rows: ArrayLike<number>): tf.Tensor2D {
  const [N, d] = x.shape;
  const idx = Int32Array.from(rows);
  const f = tf.customGrad((...args: GradArgs) => ({
    value: tf.tidy(() => {
      const ids = tf.tensor1d(idx, "int32");
      return fusedKernelsActive()
        ? fusedGatherRows(args[0] as tf.Tensor2D, ids)
        : tf.gather(args[0] as tf.Tensor2D, ids);
    }),
    gradFunc: (dy: tf.Tensor) => tf.scatterND(tf.tensor2d(idx, [idx.length, 1], "int32"), dy, [N, d]), // [N, d]
  }));
  return f(x) as tf.Tensor2D;
}

/**
 * a + b for two tensors of one shape, saving nothing for the backward (da = db = dy). tfjs' Add gradient saves both
 * inputs (it needs only their shapes), which keeps e.g. a LoRA'd projection's frozen and adapter parts alive next to
 * their sum until the backward reaches them: on Qwen2-0.5B ~0.3 GB per 128 tokens. Same kernel, same values.
 */
export function addSameShape<T extends tf.Tensor>(a: T, b: T): T {
  if (!tf.util.arraysEqual(a.shape, b.shape))
    throw new Error(`addSameShape: shapes [${a.shape}] and [${b.shape}] differ; use tf.add to broadcast`);
  const f = tf.customGrad((...args: GradArgs) => ({
    value: tf.add(args[0] as T, args[1] as T),
    // Two distinct tensors (reshape shares the buffer), as tfjs' own Add gradient returns: each is released on its own.
    gradFunc: (dy: tf.Tensor) => [tf.reshape(dy, a.shape), tf.reshape(dy, b.shape)],
  }));
  return f(a, b) as T;
}
