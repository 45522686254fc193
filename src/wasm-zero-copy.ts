// Zero-copy Identity and same-dtype Cast for the wasm backend (docs/engine.md §3). tfjs-wasm 4.22 runs both as a
// real copy (kernels/Identity.js, kernels/Cast.js: makeOutput + set), and tfjs-core clones every tensor it saves for
// the backward through Identity (Engine.saveTensorsForBackwardMode, customGrad's save) and casts both operands in the
// Mul gradient: ~475 copies per step, which on a Qwen2-0.5B-shaped model kept hundreds of MB alive until the tape
// ended. Tensors are immutable, so the output may share the input's buffer with its ref count bumped — what
// tfjs-wasm's own Reshape kernel and tfjs-cpu's Identity/Cast already do. Results are bit-identical.
// LORA_LAB_ZERO_COPY=0 keeps the copying kernels (to measure the difference).
import * as tf from "@tensorflow/tfjs";

/** The part of tfjs-backend-wasm's BackendWasm used here (dist/backend_wasm.d.ts). */
interface RefCountingBackend {
  incRef(dataId: object): void;
}

let installed = false;

/** Re-registers wasm Identity and Cast as buffer-sharing kernels (Cast only when the dtype is unchanged). Idempotent. */
export function enableZeroCopyIdentity(): boolean {
  if (installed) return true;
  if (tf.getBackend() !== "wasm" || process.env.LORA_LAB_ZERO_COPY === "0") return false;
  const identity = tf.getKernel(tf.Identity, "wasm");
  const cast = tf.getKernel(tf.Cast, "wasm");
  if (!identity || !cast) return false;
  const share = (args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo => {
    const x = (args.inputs as { x: tf.TensorInfo }).x;
    (args.backend as unknown as RefCountingBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
  // Strings live outside the heap (the original kernel rebuilds them); a real Cast converts, so it keeps copying.
  const identityFunc: tf.KernelFunc = (args) =>
    (args.inputs as { x: tf.TensorInfo }).x.dtype === "string" ? identity.kernelFunc(args) : share(args);
  const castFunc: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
    return x.dtype === dtype && dtype !== "string" ? share(args) : cast.kernelFunc(args);
  };
  tf.unregisterKernel(tf.Identity, "wasm");
  tf.registerKernel({ ...identity, kernelFunc: identityFunc });
  tf.unregisterKernel(tf.Cast, "wasm");
  tf.registerKernel({ ...cast, kernelFunc: castFunc });
  return (installed = true);
}
