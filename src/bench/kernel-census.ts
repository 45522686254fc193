// Counts and times the kernels tfjs dispatches while a function runs: every kernel registered for the active backend
// is wrapped (count + wall time around its kernelFunc) for the duration of one call, then the originals are put
// back. A "launch" is one engine dispatch (tf.engine().runKernel); kernels that call others directly inside the
// backend count once. Matmul time is the time inside the native addon's sgemm when it is active (BatchMatMul and the
// products inside fused kernels), else inside BatchMatMul kernels; time outside matmuls = the call's wall time −
// matmul time: engine bookkeeping, JS glue and every elementwise or row kernel (docs/cpu-kernels.md).
import * as tf from "@tensorflow/tfjs";
import { nativeMatmulActive, sgemmClock } from "../native-matmul.ts";

export interface KernelCount {
  name: string;
  calls: number;
  ms: number;
}

export interface KernelCensus {
  /** Wall time of the whole call (ms), with the wrappers in place (their cost is ~1 µs per launch). */
  wallMs: number;
  /** Engine dispatches during the call. */
  launches: number;
  /** Time inside any kernel (ms); nested dispatches are counted once, in the outermost kernel. */
  kernelMs: number;
  /** Time in matrix products (ms): the native sgemm when active, else BatchMatMul kernels. */
  matmulMs: number;
  /** Per kernel name, most time first. */
  byKernel: KernelCount[];
}

/** Runs f once with every kernel of the active backend counted and timed; returns f's result and the census. */
export async function kernelCensus<T>(f: () => T | Promise<T>): Promise<[T, KernelCensus]> {
  const backend = tf.getBackend();
  const originals = tf.getKernelsForBackend(backend);
  const acc = new Map<string, KernelCount>();
  let depth = 0;
  let launches = 0;
  for (const k of originals) {
    const inner = k.kernelFunc;
    const entry: KernelCount = acc.get(k.kernelName) ?? { name: k.kernelName, calls: 0, ms: 0 };
    acc.set(k.kernelName, entry);
    const kernelFunc: tf.KernelFunc = (args) => {
      launches++;
      entry.calls++;
      if (depth > 0) return inner(args);
      depth++;
      const t0 = performance.now();
      try {
        return inner(args);
      } finally {
        entry.ms += performance.now() - t0;
        depth--;
      }
    };
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({ ...k, kernelFunc });
  }
  let out: T;
  let wallMs: number;
  const sgemm0 = sgemmClock.ms;
  try {
    const t0 = performance.now();
    out = await f();
    wallMs = performance.now() - t0;
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  }
  const byKernel = [...acc.values()].filter((k) => k.calls > 0).sort((a, b) => b.ms - a.ms);
  return [
    out,
    {
      wallMs,
      launches,
      kernelMs: byKernel.reduce((s, k) => s + k.ms, 0),
      matmulMs: nativeMatmulActive() ? sgemmClock.ms - sgemm0 : (acc.get(tf.BatchMatMul)?.ms ?? 0),
      byKernel,
    },
  ];
}
