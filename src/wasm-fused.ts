// Fused kernels for the wasm backend (docs/cpu-kernels.md). On a small model a LoRA step is dominated by tfjs' cost
// per dispatched kernel, not by arithmetic, so the elementwise chains of the step each become ONE registered kernel
// that reads and writes the wasm heap in place: AdamW's update (14 kernels → 1), RMSNorm forward and backward, the
// SwiGLU product and its backward, and, with the native matmul addon, a LoRA'd linear layer (frozen product + bias +
// s·(x·Aᵀ)·Bᵀ) and its backward (dx, dA, dB) as a few sgemm calls inside one kernel.
// Elementwise arithmetic is float32 op for op: JS computes in float64 and every result is rounded with Math.fround,
// which for +, −, ×, ÷ and √ of float32 operands gives exactly the float32 result (float64 has more than 2·24+2
// bits). AdamW, SwiGLU and the LoRA layer's forward are therefore bit-identical to the kernel chains they replace;
// the reductions (RMSNorm's mean of squares, RMSNorm's backward) sum in another order.
// LORA_LAB_FUSED=0 turns every fused kernel off (the composed tfjs ops run instead).
import * as tf from "@tensorflow/tfjs";
import { loadMatmulAddon, nativeMatmulActive, nativeMatmulThreads, type MatmulAddon } from "./native-matmul.ts";

/** The parts of tfjs-backend-wasm's BackendWasm used here (dist/backend_wasm.d.ts). */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

const f32 = Math.fround;
let enabled = process.env.LORA_LAB_FUSED !== "0";
let registered = false;

/** Turns the fused kernels on or off (tests compare both paths); returns the previous setting. */
export function setFusedKernels(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Whether the elementwise fused kernels run (wasm backend, not switched off). Registers them on first use. */
export function fusedKernelsActive(): boolean {
  if (!enabled || tf.getBackend() !== "wasm") return false;
  if (!registered) registerFusedKernels();
  return true;
}

/** Whether the fused LoRA linear layer runs: the fused kernels plus the native matmul addon. */
export function fusedLoraLinearActive(): boolean {
  return fusedKernelsActive() && nativeMatmulActive();
}

const offsetOf = (b: WasmBackend, t: tf.TensorInfo): number => b.dataIdMap.get(t.dataId)!.memoryOffset;
/** A Float32Array over a tensor's heap bytes; take it after the last makeOutput (a heap growth moves the buffer). */
const view = (b: WasmBackend, t: tf.TensorInfo): Float32Array => new Float32Array(b.wasm.HEAPU8.buffer, offsetOf(b, t), tf.util.sizeFromShape(t.shape));
const scalarOf = (b: WasmBackend, t: tf.TensorInfo): number => new Float32Array(b.wasm.HEAPU8.buffer, offsetOf(b, t), 1)[0]!;

type Inputs = Record<string, tf.TensorInfo | undefined>;
type KernelImpl = (b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>) => tf.TensorInfo | tf.TensorInfo[];

const KERNELS: Record<string, KernelImpl> = {
  LoraLabAdamW: adamwKernel,
  LoraLabRmsNorm: rmsNormKernel,
  LoraLabRmsNormGrad: rmsNormGradKernel,
  LoraLabSwiGlu: swiGluKernel,
  LoraLabSwiGluGrad: swiGluGradKernel,
  LoraLabLoraLinear: loraLinearKernel,
  LoraLabLoraLinearGrad: loraLinearGradKernel,
};

function registerFusedKernels(): void {
  for (const [kernelName, impl] of Object.entries(KERNELS)) {
    if (tf.getKernel(kernelName, "wasm")) continue;
    tf.registerKernel({
      kernelName,
      backendName: "wasm",
      kernelFunc: (args) => impl(args.backend as unknown as WasmBackend, args.inputs as Inputs, args.attrs as Record<string, unknown>),
    });
  }
  registered = true;
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap);

// ---- AdamW -----------------------------------------------------------------------------------------------------

/** The per-step scalar tensors of src/optim/adamw.ts (float32 scalars on the heap). */
export interface AdamScalarTensors {
  beta1: tf.Scalar;
  oneMinusBeta1: tf.Scalar;
  beta2: tf.Scalar;
  oneMinusBeta2: tf.Scalar;
  sqrtBc2: tf.Scalar;
  eps: tf.Scalar;
  negStepSize: tf.Scalar;
}

/**
 * One AdamW update in one kernel, float32 op for op as src/optim/adamw.ts adamwUpdate composes it:
 * m' = m·β1 + g·(1−β1); v' = v·β2 + g²·(1−β2); p' = (decay ? p·decay : p) + (m' / (√v' / √bc2 + ε))·(−lr/bc1).
 * Returns [p', m', v'] (call inside tf.tidy; the caller assigns them).
 */
export function fusedAdamw(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: AdamScalarTensors, decay: tf.Scalar | null): tf.Tensor[] {
  const { beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtBc2, eps, negStepSize } = s;
  const inputs: Record<string, tf.Tensor> = { p, g, m, v, beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtBc2, eps, negStepSize };
  if (decay) inputs.decay = decay;
  return run("LoraLabAdamW", inputs) as tf.Tensor[];
}

function adamwKernel(b: WasmBackend, x: Inputs): tf.TensorInfo[] {
  const { p, g, m, v } = x as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
  const outP = b.makeOutput([...p.shape], "float32");
  const outM = b.makeOutput([...p.shape], "float32");
  const outV = b.makeOutput([...p.shape], "float32");
  const [P, G, M, V, P2, M2, V2] = [p, g, m, v, outP, outM, outV].map((t) => view(b, t)) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const s = (k: string) => scalarOf(b, x[k]!);
  const b1 = s("beta1"), c1 = s("oneMinusBeta1"), b2 = s("beta2"), c2 = s("oneMinusBeta2");
  const sqrtBc2 = s("sqrtBc2"), eps = s("eps"), neg = s("negStepSize");
  const decay = x.decay ? s("decay") : null;
  for (let i = 0; i < P.length; i++) {
    const gi = G[i]!;
    const mi = f32(f32(M[i]! * b1) + f32(gi * c1));
    const vi = f32(f32(V[i]! * b2) + f32(f32(gi * gi) * c2));
    const denom = f32(f32(f32(Math.sqrt(vi)) / sqrtBc2) + eps);
    const base = decay === null ? P[i]! : f32(P[i]! * decay);
    P2[i] = f32(base + f32(f32(mi / denom) * neg));
    M2[i] = mi;
    V2[i] = vi;
  }
  return [outP, outM, outV];
}

// ---- RMSNorm ---------------------------------------------------------------------------------------------------

/** y = w · x / sqrt(mean(x²) + eps) over the last axis of x [N, d] (transformers' LlamaRMSNorm in float32). */
export function fusedRmsNorm(x: tf.Tensor2D, w: tf.Tensor1D, eps: number): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    save([xi]);
    return {
      value: run("LoraLabRmsNorm", { x: xi, w }, { eps }) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run("LoraLabRmsNormGrad", { x: saved[0]!, w, dy }, { eps }) as tf.Tensor,
    };
  });
  return f(x) as tf.Tensor2D;
}

/** 1 / sqrt(mean(x_row²) + eps) in float32 (row sum in order; tfjs' Mean divides the Sum by d). */
function rowRstd(X: Float32Array, o: number, d: number, eps: number): number {
  let ss = 0;
  for (let j = 0; j < d; j++) ss = f32(ss + f32(X[o + j]! * X[o + j]!));
  return f32(1 / f32(Math.sqrt(f32(f32(ss / d) + eps))));
}

function rmsNormKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo {
  const { x, w } = inputs as Record<"x" | "w", tf.TensorInfo>;
  const eps = f32(attrs.eps as number);
  const d = x.shape[x.shape.length - 1]!;
  const out = b.makeOutput([...x.shape], "float32");
  const X = view(b, x), W = view(b, w), Y = view(b, out);
  for (let o = 0; o < X.length; o += d) {
    const r = rowRstd(X, o, d, eps);
    for (let j = 0; j < d; j++) Y[o + j] = f32(f32(X[o + j]! * r) * W[j]!);
  }
  return out;
}

/** dx = r·(dy·w) − x·r³·mean((dy·w)·x) per row, with r = 1/sqrt(mean(x²) + eps). */
function rmsNormGradKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo {
  const { x, w, dy } = inputs as Record<"x" | "w" | "dy", tf.TensorInfo>;
  const eps = f32(attrs.eps as number);
  const d = x.shape[x.shape.length - 1]!;
  const out = b.makeOutput([...x.shape], "float32");
  const X = view(b, x), W = view(b, w), DY = view(b, dy), DX = view(b, out);
  for (let o = 0; o < X.length; o += d) {
    const r = rowRstd(X, o, d, eps);
    let dot = 0;
    for (let j = 0; j < d; j++) dot = f32(dot + f32(f32(DY[o + j]! * W[j]!) * X[o + j]!));
    const k = f32(f32(f32(r * r) * r) * f32(dot / d));
    for (let j = 0; j < d; j++) DX[o + j] = f32(f32(f32(DY[o + j]! * W[j]!) * r) - f32(X[o + j]! * k));
  }
  return out;
}

// ---- SwiGLU ----------------------------------------------------------------------------------------------------

/**
 * SiLU(gate)·up = (gate·sigmoid(gate))·up for gate, up [N, ffn]. The sigmoid stays tfjs' own kernel (one launch, the
 * same values); the products and the whole backward are one kernel each, float32 op for op as tfjs' Mul and
 * Sigmoid gradients compose them.
 */
export function fusedSwiGlu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [g, u, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const s = tf.sigmoid(g);
    save([g, u, s]);
    return {
      value: run("LoraLabSwiGlu", { g, s, u }) as tf.Tensor2D,
      gradFunc: (dh: tf.Tensor, saved: tf.Tensor[]) => run("LoraLabSwiGluGrad", { g: saved[0]!, u: saved[1]!, s: saved[2]!, dh }) as tf.Tensor[],
    };
  });
  return f(gate, up) as tf.Tensor2D;
}

function swiGluKernel(b: WasmBackend, inputs: Inputs): tf.TensorInfo {
  const { g, s, u } = inputs as Record<"g" | "s" | "u", tf.TensorInfo>;
  const out = b.makeOutput([...g.shape], "float32");
  const G = view(b, g), S = view(b, s), U = view(b, u), H = view(b, out);
  for (let i = 0; i < G.length; i++) H[i] = f32(f32(G[i]! * S[i]!) * U[i]!);
  return out;
}

/** du = dh·(g·s); dg = (dh·u)·s + ((dh·u)·g)·(s·(1 − s)) (Mul's gradient, then Sigmoid's: dy·y·(1−y)). */
function swiGluGradKernel(b: WasmBackend, inputs: Inputs): tf.TensorInfo[] {
  const { g, s, u, dh } = inputs as Record<"g" | "s" | "u" | "dh", tf.TensorInfo>;
  const dg = b.makeOutput([...g.shape], "float32");
  const du = b.makeOutput([...g.shape], "float32");
  const G = view(b, g), S = view(b, s), U = view(b, u), DH = view(b, dh), DG = view(b, dg), DU = view(b, du);
  for (let i = 0; i < G.length; i++) {
    const gi = G[i]!, si = S[i]!, d = DH[i]!;
    DU[i] = f32(d * f32(gi * si));
    const t = f32(d * U[i]!);
    DG[i] = f32(f32(t * si) + f32(f32(t * gi) * f32(si * f32(1 - si))));
  }
  return [dg, du];
}

// ---- LoRA linear layer (needs the native matmul) ---------------------------------------------------------------

/**
 * y = x·Wt (+ bias) + s·(x·Aᵀ)·Bᵀ for x [N, in], a frozen Wt [in, out] (bias [out]) and LoRA A [r, in], B [out, r]:
 * one kernel forward (three sgemm calls, the adapter product accumulated into y), one backward giving dx, dA, dB
 * (the adapter's middle x·Aᵀ·s is recomputed, N·in·r FLOPs, instead of being kept). Values equal the composed
 * path: the same sgemm per product, C + (A·B) as tf.add forms it.
 */
export function fusedLoraLinear(x: tf.Tensor2D, Wt: tf.Tensor2D, bias: tf.Tensor1D | undefined, A: tf.Tensor2D, B: tf.Tensor2D, scaling: number): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, a, bb, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([xi]);
    const fwdInputs: Record<string, tf.Tensor> = { x: xi, Wt, A: a, B: bb };
    if (bias) fwdInputs.bias = bias;
    return {
      value: run("LoraLabLoraLinear", fwdInputs, { scaling }) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run("LoraLabLoraLinearGrad", { dy, x: saved[0]!, Wt, A: a, B: bb }, { scaling }) as tf.Tensor[],
    };
  });
  return f(x, A, B) as tf.Tensor2D;
}

function addon(): MatmulAddon {
  const m = loadMatmulAddon();
  if (typeof m === "string") throw new Error(`fused LoRA linear needs the native matmul: ${m}`);
  return m;
}

/** C = op(A)·op(B) (or C += with accumulate) for 2-D heap tensors, by the native sgemm. */
function sgemm(b: WasmBackend, a: tf.TensorInfo, bt: tf.TensorInfo, c: tf.TensorInfo, M: number, N: number, K: number, tA: boolean, tB: boolean, accumulate = false): void {
  addon().sgemm(b.wasm.HEAPU8.buffer, offsetOf(b, a), offsetOf(b, bt), offsetOf(b, c), 1, 1, M, N, K, tA, tB, nativeMatmulThreads(), accumulate);
}

/** mid = (x·Aᵀ)·s [N, r] in a heap tensor the caller disposes. */
function loraMid(b: WasmBackend, x: tf.TensorInfo, A: tf.TensorInfo, s: number): tf.TensorInfo {
  const [N, inDim] = x.shape as [number, number];
  const r = A.shape[0]!;
  const mid = b.makeOutput([N, r], "float32");
  sgemm(b, x, A, mid, N, r, inDim, false, true);
  const Mid = view(b, mid);
  for (let i = 0; i < Mid.length; i++) Mid[i] = f32(Mid[i]! * s);
  return mid;
}

function loraLinearKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo {
  const { x, Wt, A, B, bias } = inputs as Record<"x" | "Wt" | "A" | "B", tf.TensorInfo> & { bias?: tf.TensorInfo };
  const s = f32(attrs.scaling as number);
  const [N, inDim] = x.shape as [number, number];
  const outDim = Wt.shape[1]!;
  const r = A.shape[0]!;
  const y = b.makeOutput([N, outDim], "float32");
  sgemm(b, x, Wt, y, N, outDim, inDim, false, false);
  if (bias) {
    const Y = view(b, y), Bi = view(b, bias);
    for (let o = 0; o < Y.length; o += outDim) for (let j = 0; j < outDim; j++) Y[o + j] = f32(Y[o + j]! + Bi[j]!);
  }
  const mid = loraMid(b, x, A, s);
  sgemm(b, mid, B, y, N, outDim, r, false, true, true); // y += mid·Bᵀ
  b.disposeData(mid.dataId, true);
  return y;
}

function loraLinearGradKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo[] {
  const { dy, x, Wt, A, B } = inputs as Record<"dy" | "x" | "Wt" | "A" | "B", tf.TensorInfo>;
  const s = f32(attrs.scaling as number);
  const [N, inDim] = x.shape as [number, number];
  const outDim = Wt.shape[1]!;
  const r = A.shape[0]!;
  const dx = b.makeOutput([N, inDim], "float32");
  const dA = b.makeOutput([r, inDim], "float32");
  const dB = b.makeOutput([outDim, r], "float32");
  const dmid = b.makeOutput([N, r], "float32");
  sgemm(b, dy, Wt, dx, N, inDim, outDim, false, true); // dx = dy·Wtᵀ
  const mid = loraMid(b, x, A, s);
  sgemm(b, dy, mid, dB, outDim, r, N, true, false); // dB = dyᵀ·mid
  b.disposeData(mid.dataId, true);
  sgemm(b, dy, B, dmid, N, r, outDim, false, false); // dmid = dy·B
  const Dm = view(b, dmid);
  for (let i = 0; i < Dm.length; i++) Dm[i] = f32(Dm[i]! * s); // through the ·s
  sgemm(b, dmid, x, dA, r, inDim, N, true, false); // dA = dmidᵀ·x
  sgemm(b, dmid, A, dx, N, inDim, r, false, false, true); // dx += dmid·A
  b.disposeData(dmid.dataId, true);
  return [dx, dA, dB];
}
