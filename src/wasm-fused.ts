// Fused kernels for the wasm backend with the native addon (docs/cpu-kernels.md). On a small model a LoRA step is
// dominated by tfjs' cost per dispatched kernel, not by arithmetic, so each chain of small ops becomes ONE
// registered kernel that reads and writes the wasm heap in place through the addon (native/lora-lab-matmul:
// sgemm + fused.cc): AdamW's update (14 kernels → 1), RMSNorm, SwiGLU, a LoRA'd linear layer (frozen product +
// bias + s·(x·Aᵀ)·Bᵀ) and causal attention with RoPE and GQA, each one kernel forward and one backward.
// Elementwise steps are float32 op for op as the tfjs ops they replace (fused.cc is built without FMA contraction),
// so AdamW, SwiGLU, the LoRA layer and attention's forward are bit-identical to the composed path; row sums
// (RMSNorm, the softmax backward) and the order in which a shared input's gradients are added differ (float32
// reassociation). Without the addon, or with LORA_LAB_FUSED=0 or LORA_LAB_NATIVE_MATMUL=0, the composed tfjs ops run.
import * as tf from "@tensorflow/tfjs";
import {
  loadMatmulAddon,
  nativeMatmulActive,
  nativeMatmulThreads,
  timedSgemm,
  type MatmulAddon,
} from "./native-matmul.ts";

/** The addon's fused-kernel loops (native/lora-lab-matmul/src/fused.cc); offsets are bytes into the heap. */
interface FusedAddon extends MatmulAddon {
  adamw(heap: ArrayBufferLike, ...a: number[]): void;
  rmsnorm(heap: ArrayBufferLike, x: number, w: number, y: number, rows: number, d: number, eps: number): void;
  rmsnormGrad(
    heap: ArrayBufferLike,
    x: number,
    w: number,
    dy: number,
    dx: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  swiglu(heap: ArrayBufferLike, g: number, s: number, u: number, out: number, n: number): void;
  swigluGrad(
    heap: ArrayBufferLike,
    g: number,
    s: number,
    u: number,
    dh: number,
    dg: number,
    du: number,
    n: number,
  ): void;
  scale(heap: ArrayBufferLike, x: number, out: number, n: number, s: number): void;
  addRow(heap: ArrayBufferLike, y: number, bias: number, rows: number, cols: number): void;
  fold(
    heap: ArrayBufferLike,
    x: number,
    out: number,
    B: number,
    T: number,
    n: number,
    KV: number,
    hd: number,
    cos: number,
    sin: number,
    inverse: number,
  ): void;
  maskScale(
    heap: ArrayBufferLike,
    S: number,
    rows: number,
    T: number,
    G: number,
    keys: number,
    offset: number,
    scale: number,
  ): void;
  softmaxGrad(heap: ArrayBufferLike, P: number, dP: number, rows: number, T: number, scale: number): void;
  sumSquares(heap: ArrayBufferLike, x: number, n: number): number;
}

/** The parts of tfjs-backend-wasm's BackendWasm used here (dist/backend_wasm.d.ts). */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

let enabled = process.env.LORA_LAB_FUSED !== "0";
let registered = false;
let fusedAddon: FusedAddon | null | undefined;

/** Turns the fused kernels on or off (tests compare both paths); returns the previous setting. */
export function setFusedKernels(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

function addon(): FusedAddon | null {
  if (fusedAddon === undefined) {
    const m = loadMatmulAddon();
    fusedAddon =
      typeof m !== "string" && typeof (m as Partial<FusedAddon>).adamw === "function" ? (m as FusedAddon) : null;
  }
  return fusedAddon;
}

/** Whether the fused kernels run: wasm backend with the native matmul active, not switched off. */
export function fusedKernelsActive(): boolean {
  if (!enabled || tf.getBackend() !== "wasm" || !nativeMatmulActive() || !addon()) return false;
  if (!registered) registerFusedKernels();
  return true;
}

const native = (): FusedAddon => addon()!;
const offsetOf = (b: WasmBackend, t: tf.TensorInfo): number => b.dataIdMap.get(t.dataId)!.memoryOffset;
/** The heap's ArrayBuffer; read it after the last makeOutput of a kernel (a heap growth replaces it). */
const heap = (b: WasmBackend): ArrayBufferLike => b.wasm.HEAPU8.buffer;
const scalarOf = (b: WasmBackend, t: tf.TensorInfo): number => new Float32Array(heap(b), offsetOf(b, t), 1)[0]!;
const size = (t: tf.TensorInfo): number => tf.util.sizeFromShape(t.shape);

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
  LoraLabAttention: attentionKernel,
  LoraLabAttentionGrad: attentionGradKernel,
  LoraLabAttentionCached: attentionCachedKernel,
  LoraLabSumSquares: sumSquaresKernel,
  LoraLabGatherRows: gatherRowsKernel,
  LoraLabScaleAll: scaleAllKernel,
};

function registerFusedKernels(): void {
  for (const [kernelName, impl] of Object.entries(KERNELS)) {
    if (tf.getKernel(kernelName, "wasm")) continue;
    tf.registerKernel({
      kernelName,
      backendName: "wasm",
      kernelFunc: (args) =>
        impl(args.backend as unknown as WasmBackend, args.inputs as Inputs, args.attrs as Record<string, unknown>),
    });
  }
  registered = true;
}

function run(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): tf.Tensor | tf.Tensor[] {
  if (!registered) registerFusedKernels();
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as
    tf.Tensor | tf.Tensor[];
}

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
export function fusedAdamw(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  s: AdamScalarTensors,
  decay: tf.Scalar | null,
): tf.Tensor[] {
  const { beta1, oneMinusBeta1, beta2, oneMinusBeta2, sqrtBc2, eps, negStepSize } = s;
  const inputs: Record<string, tf.Tensor> = {
    p,
    g,
    m,
    v,
    beta1,
    oneMinusBeta1,
    beta2,
    oneMinusBeta2,
    sqrtBc2,
    eps,
    negStepSize,
  };
  if (decay) inputs.decay = decay;
  return run("LoraLabAdamW", inputs) as tf.Tensor[];
}

function adamwKernel(b: WasmBackend, x: Inputs): tf.TensorInfo[] {
  const { p, g, m, v } = x as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
  const outP = b.makeOutput([...p.shape], "float32");
  const outM = b.makeOutput([...p.shape], "float32");
  const outV = b.makeOutput([...p.shape], "float32");
  const s = (k: string) => scalarOf(b, x[k]!);
  const o = (t: tf.TensorInfo) => offsetOf(b, t);
  native().adamw(
    heap(b),
    o(p),
    o(g),
    o(m),
    o(v),
    o(outP),
    o(outM),
    o(outV),
    size(p),
    s("beta1"),
    s("oneMinusBeta1"),
    s("beta2"),
    s("oneMinusBeta2"),
    s("sqrtBc2"),
    s("eps"),
    s("negStepSize"),
    x.decay ? s("decay") : NaN,
  );
  return [outP, outM, outV];
}

// ---- One factor on many tensors (gradient clipping) -----------------------------------------------------------

/** [x₀·c, x₁·c, …] in one kernel, each as tf.mul(x, c) forms it (c rounded to float32). */
export function fusedScaleAll(xs: readonly tf.Tensor[], c: number): tf.Tensor[] {
  const out = run("LoraLabScaleAll", Object.fromEntries(xs.map((x, i) => [String(i), x])), { c });
  return Array.isArray(out) ? out : [out];
}

function scaleAllKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo[] {
  const xs = Object.keys(inputs)
    .sort((p, q) => Number(p) - Number(q))
    .map((k) => inputs[k]!);
  const outs = xs.map((x) => b.makeOutput([...x.shape], "float32"));
  xs.forEach((x, i) => native().scale(heap(b), offsetOf(b, x), offsetOf(b, outs[i]!), size(x), attrs.c as number));
  return outs;
}

// ---- Embedding rows ----------------------------------------------------------------------------------------------

/** table[ids] for a table [V, d] and int32 ids [N] → [N, d], row copies (tfjs-wasm's GatherV2 is ~100× slower). */
export function fusedGatherRows(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  return run("LoraLabGatherRows", { table, ids }) as tf.Tensor2D;
}

function gatherRowsKernel(b: WasmBackend, inputs: Inputs): tf.TensorInfo {
  const { table, ids } = inputs as Record<"table" | "ids", tf.TensorInfo>;
  const [V, d] = table.shape as [number, number];
  const N = size(ids);
  const out = b.makeOutput([N, d], "float32");
  const F = new Float32Array(heap(b));
  const I = new Int32Array(heap(b), offsetOf(b, ids), N);
  const src = offsetOf(b, table) / 4,
    dst = offsetOf(b, out) / 4;
  for (let i = 0; i < N; i++) {
    const id = I[i]!;
    if (!(id >= 0 && id < V)) {
      b.disposeData(out.dataId, true);
      throw new RangeError(`token id ${id} at position ${i} is outside the embedding table's ${V} rows`);
    }
    F.copyWithin(dst + i * d, src + id * d, src + (id + 1) * d);
  }
  return out;
}

// ---- Sums of squares (the per-step stability signals) --------------------------------------------------------

/** [Σ x₀², Σ x₁², …] for any number of float32 tensors in one kernel, each summed as tf.sum(tf.square(x)) does. */
export function fusedSumSquares(xs: readonly tf.Tensor[]): tf.Tensor1D {
  return run("LoraLabSumSquares", Object.fromEntries(xs.map((x, i) => [String(i), x]))) as tf.Tensor1D;
}

function sumSquaresKernel(b: WasmBackend, inputs: Inputs): tf.TensorInfo {
  const xs = Object.keys(inputs)
    .sort((p, q) => Number(p) - Number(q))
    .map((k) => inputs[k]!);
  const out = b.makeOutput([xs.length], "float32");
  const sums = xs.map((x) => native().sumSquares(heap(b), offsetOf(b, x), size(x)));
  new Float32Array(heap(b), offsetOf(b, out), xs.length).set(sums);
  return out;
}

// ---- RMSNorm ---------------------------------------------------------------------------------------------------

/** y = w · x / sqrt(mean(x²) + eps) over the last axis of x [N, d] (transformers' LlamaRMSNorm in float32). */
export function fusedRmsNorm(x: tf.Tensor2D, w: tf.Tensor1D, eps: number): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    save([xi]);
    return {
      value: run("LoraLabRmsNorm", { x: xi, w }, { eps }) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        run("LoraLabRmsNormGrad", { x: saved[0]!, w, dy }, { eps }) as tf.Tensor,
    };
  });
  return f(x) as tf.Tensor2D;
}

function rmsNormKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo {
  const { x, w } = inputs as Record<"x" | "w", tf.TensorInfo>;
  const d = x.shape[x.shape.length - 1]!;
  const out = b.makeOutput([...x.shape], "float32");
  native().rmsnorm(heap(b), offsetOf(b, x), offsetOf(b, w), offsetOf(b, out), size(x) / d, d, attrs.eps as number);
  return out;
}

/** dx = r·(dy·w) − x·r³·mean((dy·w)·x) per row, with r = 1/sqrt(mean(x²) + eps). */
function rmsNormGradKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo {
  const { x, w, dy } = inputs as Record<"x" | "w" | "dy", tf.TensorInfo>;
  const d = x.shape[x.shape.length - 1]!;
  const out = b.makeOutput([...x.shape], "float32");
  native().rmsnormGrad(
    heap(b),
    offsetOf(b, x),
    offsetOf(b, w),
    offsetOf(b, dy),
    offsetOf(b, out),
    size(x) / d,
    d,
    attrs.eps as number,
  );
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
      gradFunc: (dh: tf.Tensor, saved: tf.Tensor[]) =>
        run("LoraLabSwiGluGrad", { g: saved[0]!, u: saved[1]!, s: saved[2]!, dh }) as tf.Tensor[],
    };
  });
  return f(gate, up) as tf.Tensor2D;
}

function swiGluKernel(b: WasmBackend, inputs: Inputs): tf.TensorInfo {
  const { g, s, u } = inputs as Record<"g" | "s" | "u", tf.TensorInfo>;
  const out = b.makeOutput([...g.shape], "float32");
  native().swiglu(heap(b), offsetOf(b, g), offsetOf(b, s), offsetOf(b, u), offsetOf(b, out), size(g));
  return out;
}

/** du = dh·(g·s); dg = (dh·u)·s + ((dh·u)·g)·(s·(1 − s)) (Mul's gradient, then Sigmoid's: dy·y·(1−y)). */
function swiGluGradKernel(b: WasmBackend, inputs: Inputs): tf.TensorInfo[] {
  const { g, s, u, dh } = inputs as Record<"g" | "s" | "u" | "dh", tf.TensorInfo>;
  const dg = b.makeOutput([...g.shape], "float32");
  const du = b.makeOutput([...g.shape], "float32");
  const o = (t: tf.TensorInfo) => offsetOf(b, t);
  native().swigluGrad(heap(b), o(g), o(s), o(u), o(dh), o(dg), o(du), size(g));
  return [dg, du];
}

// ---- LoRA linear layer (needs the native matmul) ---------------------------------------------------------------

/**
 * y = x·Wt (+ bias) + s·(x·Aᵀ)·Bᵀ for x [N, in], a frozen Wt [in, out] (bias [out]) and LoRA A [r, in], B [out, r]:
 * one kernel forward (three sgemm calls, the adapter product accumulated into y), one backward giving dx, dA, dB
 * (the adapter's middle x·Aᵀ·s is recomputed, N·in·r FLOPs, instead of being kept). Values equal the composed
 * path: the same sgemm per product, C + (A·B) as tf.add forms it. With `inputGrad` false (x depends on no trainable
 * tensor, e.g. layer 0's q/k/v input) x is not a differentiable input and the backward skips dx, 2·N·in·(out + r)
 * FLOPs.
 */
export function fusedLoraLinear(
  x: tf.Tensor2D,
  Wt: tf.Tensor2D,
  bias: tf.Tensor1D | undefined,
  A: tf.Tensor2D,
  B: tf.Tensor2D,
  scaling: number,
  inputGrad = true,
): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, a, bb, save] = (inputGrad ? args : [x, ...args]) as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.GradSaveFunc,
    ];
    save([xi]);
    const fwdInputs: Record<string, tf.Tensor> = { x: xi, Wt, A: a, B: bb };
    if (bias) fwdInputs.bias = bias;
    return {
      value: run("LoraLabLoraLinear", fwdInputs, { scaling }) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        run("LoraLabLoraLinearGrad", { dy, x: saved[0]!, Wt, A: a, B: bb }, { scaling, inputGrad }) as tf.Tensor[],
    };
  });
  return (inputGrad ? f(x, A, B) : f(A, B)) as tf.Tensor2D;
}

/** C = op(A)·op(B) (C += with accumulate) for heap tensors, `batch` products of [M, K]·[K, N], by the native sgemm. */
function sgemm(
  b: WasmBackend,
  a: tf.TensorInfo,
  bt: tf.TensorInfo,
  c: tf.TensorInfo,
  M: number,
  N: number,
  K: number,
  tA: boolean,
  tB: boolean,
  accumulate = false,
  batch = 1,
): void {
  const args = [
    heap(b),
    offsetOf(b, a),
    offsetOf(b, bt),
    offsetOf(b, c),
    batch,
    batch,
    M,
    N,
    K,
    tA,
    tB,
    nativeMatmulThreads(),
    accumulate,
  ] as const;
  timedSgemm(() => native().sgemm(...args));
}

/** mid = (x·Aᵀ)·s [N, r] in a heap tensor the caller disposes. */
function loraMid(b: WasmBackend, x: tf.TensorInfo, A: tf.TensorInfo, s: number): tf.TensorInfo {
  const [N, inDim] = x.shape as [number, number];
  const r = A.shape[0]!;
  const mid = b.makeOutput([N, r], "float32");
  sgemm(b, x, A, mid, N, r, inDim, false, true);
  native().scale(heap(b), offsetOf(b, mid), offsetOf(b, mid), N * r, s);
  return mid;
}

function loraLinearKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo {
  const { x, Wt, A, B, bias } = inputs as Record<"x" | "Wt" | "A" | "B", tf.TensorInfo> & { bias?: tf.TensorInfo };
  const s = attrs.scaling as number;
  const [N, inDim] = x.shape as [number, number];
  const outDim = Wt.shape[1]!;
  const r = A.shape[0]!;
  const y = b.makeOutput([N, outDim], "float32");
  sgemm(b, x, Wt, y, N, outDim, inDim, false, false);
  if (bias) native().addRow(heap(b), offsetOf(b, y), offsetOf(b, bias), N, outDim);
  const mid = loraMid(b, x, A, s);
  sgemm(b, mid, B, y, N, outDim, r, false, true, true); // y += mid·Bᵀ
  b.disposeData(mid.dataId, true);
  return y;
}

function loraLinearGradKernel(b: WasmBackend, inputs: Inputs, attrs: Record<string, unknown>): tf.TensorInfo[] {
  const { dy, x, Wt, A, B } = inputs as Record<"dy" | "x" | "Wt" | "A" | "B", tf.TensorInfo>;
  const s = attrs.scaling as number;
  const inputGrad = attrs.inputGrad as boolean;
  const [N, inDim] = x.shape as [number, number];
  const outDim = Wt.shape[1]!;
  const r = A.shape[0]!;
  const dx = inputGrad ? b.makeOutput([N, inDim], "float32") : null;
  const dA = b.makeOutput([r, inDim], "float32");
  const dB = b.makeOutput([outDim, r], "float32");
  const dmid = b.makeOutput([N, r], "float32");
  if (dx) sgemm(b, dy, Wt, dx, N, inDim, outDim, false, true); // dx = dy·Wtᵀ
  const mid = loraMid(b, x, A, s);
  sgemm(b, dy, mid, dB, outDim, r, N, true, false); // dB = dyᵀ·mid
  b.disposeData(mid.dataId, true);
  sgemm(b, dy, B, dmid, N, r, outDim, false, false); // dmid = dy·B
  native().scale(heap(b), offsetOf(b, dmid), offsetOf(b, dmid), N * r, s); // through the ·s
  sgemm(b, dmid, x, dA, r, inDim, N, true, false); // dA = dmidᵀ·x
  if (dx) sgemm(b, dmid, A, dx, N, inDim, r, false, false, true); // dx += dmid·A
  b.disposeData(dmid.dataId, true);
  return dx ? [dx, dA, dB] : [dA, dB];
}

// ---- Causal self-attention with RoPE and GQA (needs the native matmul) -----------------------------------------

export interface AttentionShape {
  B: number;
  T: number;
  /** Query heads, KV heads, head size. */
  H: number;
  KV: number;
  hd: number;
}

/**
 * Causal self-attention over this call's tokens only (no KV cache): q [B·T, H·hd], k and v [B·T, KV·hd] as the
 * projections give them, RoPE tables cos/sin [T, 1, hd] → o [B·T, H·hd], the layout o_proj takes. One kernel
 * forward, one backward (dq, dk, dv; the forward keeps the probabilities for it). Inside, the steps of the
 * composed path (src/models/decoder.ts attention): RoPE as x·cos + rotate_half(x)·sin, the G query heads of a KV
 * head folded into rows, q·kᵀ by the native sgemm, ·1/√hd, the additive −1e9 causal mask, tfjs-wasm's own Softmax
 * kernel, ·v; the backward as tfjs' gradients of those ops compose it (softmax: dy·y − Σ(dy·y)·y).
 */
export function fusedAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  cos: tf.Tensor,
  sin: tf.Tensor,
  shape: AttentionShape,
): tf.Tensor2D {
  const attrs = { ...shape };
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qi, ki, vi, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const [o, probs] = run("LoraLabAttention", { q: qi, k: ki, v: vi, cos, sin }, attrs) as [tf.Tensor2D, tf.Tensor];
    // The probabilities are kept for the backward (not recomputed); the tables too: the forward's tidy frees them.
    save([qi, ki, vi, cos, sin, probs!]);
    return {
      value: o!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, sc, ss, sp] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return run(
          "LoraLabAttentionGrad",
          { dy, q: sq, k: sk, v: sv, cos: sc, sin: ss, probs: sp },
          attrs,
        ) as tf.Tensor[];
      },
    };
  });
  return f(q, k, v) as tf.Tensor2D;
}

/** Heap temporaries of one kernel call, freed together. */
class Temps {
  private readonly list: tf.TensorInfo[] = [];
  constructor(private readonly b: WasmBackend) {}
  make(shape: number[]): tf.TensorInfo {
    const t = this.b.makeOutput(shape, "float32");
    this.list.push(t);
    return t;
  }
  adopt(t: tf.TensorInfo): tf.TensorInfo {
    this.list.push(t);
    return t;
  }
  free(): void {
    for (const t of this.list) this.b.disposeData(t.dataId, true);
  }
}

/**
 * Layout moves between [B, T, n, hd] (n = KV·G heads, head h = kv·G + g) and folded [B, KV, T·G, hd] (rows (t, g)),
 * with RoPE forward (fold) or its backward (unfold) when cos/sin are given (fused.cc fold).
 */
function fold(
  b: WasmBackend,
  x: tf.TensorInfo,
  out: tf.TensorInfo,
  a: AttentionShape,
  n: number,
  rope: { cos: tf.TensorInfo; sin: tf.TensorInfo } | null,
  inverse: boolean,
): void {
  const c = rope ? offsetOf(b, rope.cos) : -1,
    s = rope ? offsetOf(b, rope.sin) : -1;
  native().fold(heap(b), offsetOf(b, x), offsetOf(b, out), a.B, a.T, n, a.KV, a.hd, c, s, inverse ? 1 : 0);
}

/** RoPE'd, folded q and k and plain folded v in heap temporaries. */
function foldQkv(b: WasmBackend, tmp: Temps, x: Inputs, a: AttentionShape) {
  const { B, T, H, KV, hd } = a;
  const BK = B * KV,
    TG = T * (H / KV);
  const qh = tmp.make([BK, TG, hd]),
    kh = tmp.make([BK, T, hd]),
    vh = tmp.make([BK, T, hd]);
  const rope = { cos: x.cos!, sin: x.sin! };
  fold(b, x.q!, qh, a, H, rope, false);
  fold(b, x.k!, kh, a, KV, rope, false);
  fold(b, x.v!, vh, a, KV, null, false);
  return { qh, kh, vh };
}

function softmaxKernel(): tf.KernelFunc {
  const k = tf.getKernel("Softmax", "wasm");
  if (!k) throw new Error("fused attention: tfjs-wasm has no Softmax kernel registered");
  return k.kernelFunc;
}

/** → [o [B·T, H·hd], probs [B·KV, T·G, T]] (probs = softmax(q·kᵀ/√hd + causal mask), kept for the backward). */
function attentionKernel(b: WasmBackend, x: Inputs, attrs: Record<string, unknown>): tf.TensorInfo[] {
  const a = attrs as unknown as AttentionShape;
  const out = b.makeOutput([a.B * a.T, a.H * a.hd], "float32");
  const tmp = new Temps(b);
  let probs: tf.TensorInfo;
  try {
    const { qh, kh, vh } = foldQkv(b, tmp, x, a);
    probs = attend(b, tmp, qh, kh, vh, out, a, 0);
  } finally {
    tmp.free();
  }
  return [out, probs];
}

/**
 * out ← softmax(q·kᵀ/√hd + the causal mask shifted by P)·v, unfolded to [B·T, H·hd]: folded q [B·KV, T·G, hd] over
 * keys and values [B·KV, P+T, hd] (P cached tokens first). Returns the probabilities [B·KV, T·G, P+T] (the
 * caller keeps or frees them); the scores and o are temporaries of `tmp`.
 */
function attend(
  b: WasmBackend,
  tmp: Temps,
  qh: tf.TensorInfo,
  keys: tf.TensorInfo,
  values: tf.TensorInfo,
  out: tf.TensorInfo,
  a: AttentionShape,
  P: number,
): tf.TensorInfo {
  const { T, H, KV, hd } = a;
  const G = H / KV,
    BK = a.B * KV,
    TG = T * G,
    S = P + T;
  const scores = tmp.make([BK, TG, S]);
  sgemm(b, qh, keys, scores, TG, S, hd, false, true, false, BK); // q·kᵀ
  // ·1/√hd + the mask on the keys after each query (rows that see every key get no add, as in the composed path)
  native().maskScale(heap(b), offsetOf(b, scores), BK * TG, T, G, S, P, Math.fround(1 / Math.sqrt(hd)));
  const probs = softmaxKernel()({
    inputs: { logits: scores },
    attrs: { dim: 2 },
    backend: b as unknown as tf.KernelBackend,
  }) as tf.TensorInfo;
  const o = tmp.make([BK, TG, hd]);
  sgemm(b, probs, values, o, TG, hd, S, false, false, false, BK); // probs·v
  fold(b, o, out, a, H, null, true);
  return probs;
}

function attentionGradKernel(b: WasmBackend, x: Inputs, attrs: Record<string, unknown>): tf.TensorInfo[] {
  const a = attrs as unknown as AttentionShape;
  const { T, H, KV, hd } = a;
  const G = H / KV,
    BK = a.B * KV,
    TG = T * G;
  const dq = b.makeOutput([a.B * T, H * hd], "float32");
  const dk = b.makeOutput([a.B * T, KV * hd], "float32");
  const dv = b.makeOutput([a.B * T, KV * hd], "float32");
  const tmp = new Temps(b);
  try {
    const { qh, kh, vh } = foldQkv(b, tmp, x, a);
    const probs = x.probs!;
    const dO = tmp.make([BK, TG, hd]),
      dP = tmp.make([BK, TG, T]),
      dvh = tmp.make([BK, T, hd]);
    const dqh = tmp.make([BK, TG, hd]),
      dkh = tmp.make([BK, T, hd]);
    fold(b, x.dy!, dO, a, H, null, false);
    sgemm(b, dO, vh, dP, TG, T, hd, false, true, false, BK); // dP = dO·vᵀ
    sgemm(b, probs, dO, dvh, T, hd, TG, true, false, false, BK); // dv = Pᵀ·dO
    // softmax backward (tfjs: dy·y − Σ(dy·y)·y), then through ·1/√hd (the mask's add passes dy unchanged)
    native().softmaxGrad(heap(b), offsetOf(b, probs), offsetOf(b, dP), BK * TG, T, Math.fround(1 / Math.sqrt(hd)));
    sgemm(b, dP, kh, dqh, TG, hd, T, false, false, false, BK); // dq = dS·k
    sgemm(b, dP, qh, dkh, T, hd, TG, true, false, false, BK); // dk = dSᵀ·q
    const rope = { cos: x.cos!, sin: x.sin! };
    fold(b, dqh, dq, a, H, rope, true);
    fold(b, dkh, dk, a, KV, rope, true);
    fold(b, dvh, dv, a, KV, null, true);
  } finally {
    tmp.free();
  }
  return [dq, dk, dv];
}

/**
 * Attention of this call's tokens over the cached keys/values and their own (generation with a KV cache; no
 * gradient): q [B·T, H·hd], k and v [B·T, KV·hd] at positions P…P+T−1 (cos/sin are those positions' RoPE tables),
 * past keys/values [B, KV, P, hd] or none → [o [B·T, H·hd], keys [B, KV, P+T, hd], values [B, KV, P+T, hd]], the
 * cache for the next call. The composed path's steps (src/models/decoder.ts attention with a cache): RoPE, the GQA
 * fold, concat onto the cache, q·kᵀ/√hd with the causal mask shifted by P, tfjs' Softmax, ·v.
 */
export function fusedAttentionCached(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  cos: tf.Tensor,
  sin: tf.Tensor,
  past: { k: tf.Tensor4D; v: tf.Tensor4D } | null,
  shape: AttentionShape,
): [tf.Tensor2D, tf.Tensor4D, tf.Tensor4D] {
  const inputs: Record<string, tf.Tensor> = { q, k, v, cos, sin };
  if (past) Object.assign(inputs, { pk: past.k, pv: past.v });
  return run("LoraLabAttentionCached", inputs, { ...shape }) as [tf.Tensor2D, tf.Tensor4D, tf.Tensor4D];
}

function attentionCachedKernel(b: WasmBackend, x: Inputs, attrs: Record<string, unknown>): tf.TensorInfo[] {
  const a = attrs as unknown as AttentionShape;
  const { T, KV, hd } = a;
  const BK = a.B * KV;
  const P = x.pk ? x.pk.shape[2]! : 0,
    S = P + T;
  const out = b.makeOutput([a.B * T, a.H * hd], "float32");
  const keys = b.makeOutput([a.B, KV, S, hd], "float32");
  const values = b.makeOutput([a.B, KV, S, hd], "float32");
  const tmp = new Temps(b);
  try {
    const { qh, kh, vh } = foldQkv(b, tmp, x, a);
    // keys/values: per (batch, KV head), the P cached rows, then this call's T (tf.concat along the sequence axis)
    const F = new Float32Array(heap(b));
    for (const [all, cached, fresh] of [
      [keys, x.pk, kh],
      [values, x.pv, vh],
    ] as const) {
      const dst = offsetOf(b, all) / 4,
        src = offsetOf(b, fresh) / 4,
        old = cached ? offsetOf(b, cached) / 4 : 0;
      for (let i = 0; i < BK; i++) {
        if (cached) F.copyWithin(dst + i * S * hd, old + i * P * hd, old + (i + 1) * P * hd);
        F.copyWithin(dst + (i * S + P) * hd, src + i * T * hd, src + (i + 1) * T * hd);
      }
    }
    tmp.adopt(attend(b, tmp, qh, keys, values, out, a, P));
  } finally {
    tmp.free();
  }
  return [out, keys, values];
}
