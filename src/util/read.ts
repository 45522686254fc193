// Asynchronous reads of tensor values. WebGPU in Node has no synchronous read (tfjs' readSync goes through
// OffscreenCanvas, which Node lacks; docs/webgpu.md), so every host read of a tensor goes through here: the tensor is
// built in a tidy, read with `await data()` and disposed, whatever the backend.
import * as tf from "@tensorflow/tfjs";

/** A copy of an existing tensor's values (the tensor is left alone: variables and state tensors are read here). */
export async function readTensor(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from((await t.data()) as Float32Array | Int32Array);
}

/** Values of the NEW tensor `make` builds inside a tidy (it is disposed after the read: never return an existing one). */
export async function readValues(make: () => tf.Tensor): Promise<Float32Array> {
  const t = tf.tidy(make);
  try {
    return Float32Array.from((await t.data()) as Float32Array | Int32Array);
  } finally {
    t.dispose();
  }
}

/** Several tensors in one read: they are flattened and concatenated on the device, then split on the host. */
export async function readMany(make: () => tf.Tensor[]): Promise<Float32Array[]> {
  let sizes: number[] = [];
  const all = await readValues(() => {
    const parts = make();
    sizes = parts.map((p) => p.size);
    return parts.length
      ? tf.concat(
          parts.map((p) => tf.reshape(tf.cast(p, "float32"), [-1])),
          0,
        )
      : tf.zeros([0]);
  });
  const out: Float32Array[] = [];
  let off = 0;
  for (const n of sizes) {
    out.push(all.subarray(off, off + n));
    off += n;
  }
  return out;
}
