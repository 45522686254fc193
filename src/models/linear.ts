// The three matrix products the decoder is made of, written the "XNN-friendly" way (../shared/research/engine.md
// §2.4): every product is 2-D with no transpose flags, so tfjs-wasm runs it on XNNPACK; tfjs' own MatMul gradient
// would emit transposed products that fall back to a ~15× slower loop. Each backward uses an explicit tf.transpose.
import * as tf from "@tensorflow/tfjs";

/** tf.customGrad passes the inputs, then a save function, as one rest list. */
export type GradArgs = Array<tf.Tensor | tf.GradSaveFunc>;

/**
 * y = x·Wt (+ bias) for a frozen weight stored pre-transposed, Wt [in, out] (HF keeps W [out, in]).
 * Gradient for x only: dx = dy·Wtᵀ. Wt and bias are captured, not inputs, so no weight gradient is ever formed.
 */
export function frozenLinear(x: tf.Tensor2D, Wt: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const f = tf.customGrad((...args: GradArgs) => {
    const x = args[0] as tf.Tensor2D;
    return {
      value: bias ? tf.add(tf.matMul(x, Wt), bias) : tf.matMul(x, Wt), // [N, out]
      gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, tf.transpose(Wt)), // [N, in]
    };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * a·b with gradients for both operands (LoRA products, where b is a transposed Variable).
 * The operands are save()d: tensors only captured by the closure would be freed by the forward tidy of tf.grads.
 */
export function matMul2(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: GradArgs) => {
    const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([a, b]);
    return {
      value: tf.matMul(a, b), // [N, k]·[k, m] → [N, m]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
      },
    };
  });
  return f(a, b) as tf.Tensor2D;
}

/** S·x for a constant left matrix S [M, N] (a row selection); gradient for x only: dx = Sᵀ·dy. */
export function constLeftMatMul(S: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: GradArgs) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    save([S]);
    return {
      value: tf.matMul(S, x), // [M, d]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.matMul(tf.transpose(saved[0] as tf.Tensor2D), dy as tf.Tensor2D), // [N, d]
    };
  });
  return f(x) as tf.Tensor2D;
}
