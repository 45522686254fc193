// The Llama/Qwen2 decoder, top to bottom as in transformers' LlamaForCausalLM / Qwen2ForCausalLM:
// embedding → L × (RMSNorm → attention (RoPE, GQA, causal) → residual → RMSNorm → SwiGLU MLP → residual)
// → final RMSNorm → lm_head (tied: the embedding matrix). Base weights are frozen float32 tf.Tensors (not Variables);
// LoRA pairs (src/lora/lora.ts) are attached per module: y = x·W0ᵀ (+ bias) + s·(dropout(x)·Aᵀ)·Bᵀ.
// Products go through src/models/linear.ts (transpose flags where the matmul kernel is fast with them, explicit
// transposes on tfjs-wasm's XNNPACK path; custom gradients so frozen weights get none); the lm_head is kept once, in
// HF layout. GQA folds the G query heads that share a KV head into the row axis, so attention needs no tile or gather.
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "./model-config.ts";
import { addSameShape, frozenLinear, frozenLinearT, gatherRows, matMulT, product, type GradArgs } from "./linear.ts";
import { applyRope, ropeInvFreq, ropeTables, rotateHalfMatrix } from "./rope.ts";
import {
  fusedAttention,
  fusedAttentionCached,
  fusedGatherRows,
  fusedKernelsActive,
  fusedLoraLinear,
  fusedRmsNorm,
  fusedSwiGlu,
} from "../wasm-fused.ts";

/** A LoRA pair as the decoder applies it to one linear module: y = x·W0ᵀ (+ bias) + scaling·(x·Aᵀ)·Bᵀ. */
export interface AttachedLora {
  /** HF module path, e.g. "model.layers.3.self_attn.q_proj". */
  readonly module: string;
  /** [r, in], float32, trainable. */
  readonly A: tf.Variable;
  /** [out, r], float32, trainable. */
  readonly B: tf.Variable;
  readonly scaling: number;
}

export interface ForwardOptions {
  hooks?: {
    /** Called with each LoRA module's input x [B·T, in] (before dropout); tf.keep() what you need. */
    onLoraInput?: (module: string, x: tf.Tensor2D) => void;
  };
  /** Enables LoRA dropout (the only stochastic part). */
  training?: boolean;
  /** Seed of this step's dropout masks (each module derives its own). */
  dropoutSeed?: number;
}

/** Per-layer keys and values of the tokens seen so far, [B, KV, S, hd] each (see src/models/generate.ts). */
export interface KvCache {
  /** Tokens already in the cache (= the position of the next token). */
  length: number;
  readonly k: (tf.Tensor4D | null)[];
  readonly v: (tf.Tensor4D | null)[];
  dispose(): void;
}

export interface Decoder {
  readonly config: ModelConfig;
  /** The attached LoRA pairs (empty for the base model), in layer then q,k,v,o,gate,up,down order. */
  readonly lora: readonly AttachedLora[];
  /** LoRA dropout probability applied in training mode. */
  readonly loraDropout: number;
  /** Frozen lm_head weight [V, d] in HF layout (tied: the embedding itself; logits = h·weightᵀ, no transposed copy). */
  readonly lmHead: { readonly weight: tf.Tensor2D };
  /** Replace the attached LoRA pairs (the decoder then owns them and disposes them with itself). */
  attachLora(pairs: readonly AttachedLora[], opts?: { dropout?: number }): void;
  /** Remove the LoRA pairs and hand them back to the caller (who disposes them). */
  removeLora(): AttachedLora[];
  /** logits [B, T, V] (float32) for int32 ids [B, T]. Materialises B·T·V floats: prefer hidden() + logits(). */
  forward(ids: tf.Tensor2D, opts?: ForwardOptions): tf.Tensor3D;
  /** Hidden states after the final RMSNorm, [B, T, d]. */
  hidden(ids: tf.Tensor2D, opts?: ForwardOptions): tf.Tensor3D;
  /**
   * Hidden states after the final RMSNorm at the flat positions rows (b·T + t, distinct) only: [M, d], the rows of
   * hidden() in the order given. The last layer runs attention at every position and the rest of the layer (o_proj,
   * MLP, norms: all row by row) on these rows only, which is what scoring and the training loss read.
   */
  hiddenAt(ids: tf.Tensor2D, rows: readonly number[], opts?: ForwardOptions): tf.Tensor2D;
  /** lm_head on selected rows: h [M, d] → logits [M, V]. */
  logits(h: tf.Tensor2D): tf.Tensor2D;
  /** An empty KV cache for step(). */
  newCache(): KvCache;
  /** Run the new tokens ids [B, T] after the cached ones; appends their keys/values; returns hidden [B, T, d]. */
  step(ids: tf.Tensor2D, cache: KvCache): tf.Tensor3D;
  /** step(), returning the hidden states at the flat positions rows of this call's ids only, [M, d] (see hiddenAt). */
  stepAt(ids: tf.Tensor2D, cache: KvCache, rows: readonly number[]): tf.Tensor2D;
  /** Free every weight and the attached LoRA variables. */
  dispose(): void;
}

/** Supplies one tensor by its HF name in HF layout (linear weights [out, in]); the decoder takes ownership. */
export type WeightSource = (name: string, shape: readonly number[]) => tf.Tensor;

export class WeightShapeError extends Error {
  override name = "WeightShapeError";
}

interface Linear {
  readonly module: string;
  /** Where its input is formed: 4·layer + 0 (q, k, v), 1 (o), 2 (gate, up), 3 (down). */
  readonly stage: number;
  /** [in, out] */
  readonly Wt: tf.Tensor2D;
  /** [out] */
  readonly bias?: tf.Tensor1D;
}

interface Layer {
  readonly inputNorm: tf.Tensor1D; // [d]
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly postNorm: tf.Tensor1D; // [d]
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
}

interface Weights {
  readonly embed: tf.Tensor2D; // [V, d]
  readonly layers: Layer[];
  readonly finalNorm: tf.Tensor1D; // [d]
  readonly lmHeadW: tf.Tensor2D; // [V, d] (tied: the embedding itself)
  readonly R: tf.Tensor2D; // rotate_half permutation [hd, hd]
  readonly owned: tf.Tensor[];
}

/** Take every weight from the source in checkpoint order (one at a time), check shapes, pre-transpose linears. */
function loadWeights(c: ModelConfig, source: WeightSource): Weights {
  const owned: tf.Tensor[] = [];
  const take = (name: string, shape: readonly number[]): tf.Tensor => {
    const t = source(name, shape);
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      t.dispose();
      throw new WeightShapeError(
        `tensor "${name}" has shape [${t.shape.join(", ")}], expected [${shape.join(", ")}] from config.json`,
      );
    }
    const f = t.dtype === "float32" ? t : tf.cast(t, "float32");
    if (f !== t) t.dispose();
    owned.push(f);
    return f;
  };
  const vector = (name: string, n: number) => take(name, [n]) as tf.Tensor1D;
  const linear = (module: string, stage: number, inDim: number, outDim: number, hasBias: boolean): Linear => {
    const W = take(`${module}.weight`, [outDim, inDim]);
    const Wt = tf.transpose(W) as tf.Tensor2D; // [in, out]
    owned.splice(owned.indexOf(W), 1, Wt);
    W.dispose();
    return { module, stage, Wt, bias: hasBias ? vector(`${module}.bias`, outDim) : undefined };
  };
  const d = c.hiddenSize;
  const qOut = c.numHeads * c.headDim;
  const kvOut = c.numKvHeads * c.headDim;
  try {
    const embed = take("model.embed_tokens.weight", [c.vocabSize, d]) as tf.Tensor2D;
    const layers: Layer[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const p = `model.layers.${i}`;
      const st = 4 * i;
      layers.push({
        inputNorm: vector(`${p}.input_layernorm.weight`, d),
        q: linear(`${p}.self_attn.q_proj`, st, d, qOut, c.qkvBias),
        k: linear(`${p}.self_attn.k_proj`, st, d, kvOut, c.qkvBias),
        v: linear(`${p}.self_attn.v_proj`, st, d, kvOut, c.qkvBias),
        o: linear(`${p}.self_attn.o_proj`, st + 1, qOut, d, c.oBias),
        postNorm: vector(`${p}.post_attention_layernorm.weight`, d),
        gate: linear(`${p}.mlp.gate_proj`, st + 2, d, c.intermediateSize, c.mlpBias),
        up: linear(`${p}.mlp.up_proj`, st + 2, d, c.intermediateSize, c.mlpBias),
        down: linear(`${p}.mlp.down_proj`, st + 3, c.intermediateSize, d, c.mlpBias),
      });
    }
    const finalNorm = vector("model.norm.weight", d);
    const lmHeadW = c.tieWordEmbeddings ? embed : (take("lm_head.weight", [c.vocabSize, d]) as tf.Tensor2D);
    const R = rotateHalfMatrix(c.headDim);
    owned.push(R);
    return { embed, layers, finalNorm, lmHeadW, R, owned };
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  }
}

/** The frozen weights plus the attached LoRA: what every block of the forward pass reads. */
interface State {
  readonly c: ModelConfig;
  readonly w: Weights;
  readonly invFreq: Float32Array;
  /** Query heads per KV head. */
  readonly G: number;
  /** Rows of the frozen embedding for ids [N] → [N, d]. */
  readonly embedLookup: (ids: tf.Tensor1D) => tf.Tensor2D;
  lora: Map<string, AttachedLora>;
  /** The earliest stage (Linear.stage) with a LoRA pair: only later modules' inputs depend on a trainable factor. */
  firstLoraStage: number;
  loraDropout: number;
  /** Each LoRA module's index (its dropout seed offset). */
  moduleIndex: Map<string, number>;
}

/** Per-call facts shared by the layers of one forward pass. */
interface Ctx {
  B: number;
  T: number;
  offset: number;
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
  mask: tf.Tensor2D | null;
  opts: ForwardOptions;
}

/**
 * Rows of the frozen embedding for ids [N] → [N, d]. A custom gradient (none for the table) so that, under
 * tf.grads, the tape does not save the [V, d] table for gather's gradient: tfjs saves a copy of every saved input
 * on wasm, 0.54 GB for Qwen2-0.5B.
 */
function frozenEmbedding(embed: tf.Tensor2D): (ids: tf.Tensor1D) => tf.Tensor2D {
  return tf.customGrad((...args: GradArgs) => ({
    // [N, d]; row copies on wasm with the native addon (src/wasm-fused.ts; tfjs-wasm's GatherV2: ~25 ms for 1024×512)
    value: fusedKernelsActive()
      ? fusedGatherRows(embed, args[0] as tf.Tensor1D)
      : tf.gather(embed, args[0] as tf.Tensor1D),
    gradFunc: () => tf.zerosLike(args[0] as tf.Tensor1D), // ids are integers: no gradient
  })) as (ids: tf.Tensor1D) => tf.Tensor2D;
}

/** transformers' LlamaRMSNorm in float32: w · x / sqrt(mean(x²) + eps). */
function rmsNorm(x: tf.Tensor2D, w: tf.Tensor1D, eps: number): tf.Tensor2D {
  if (fusedKernelsActive()) return fusedRmsNorm(x, w, eps); // one kernel each way on wasm (src/wasm-fused.ts)
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
}

/** A linear module: y = x·W0ᵀ (+ bias) + s·(dropout(x)·Aᵀ)·Bᵀ when a LoRA pair is attached to it. */
function project(s: State, x: tf.Tensor2D, lin: Linear, opts: ForwardOptions): tf.Tensor2D {
  const pair = s.lora.get(lin.module);
  const dropout = opts.training === true && s.loraDropout > 0;
  if (pair && !dropout && fusedKernelsActive()) {
    opts.hooks?.onLoraInput?.(lin.module, x);
    // One kernel each way; dx only where x depends on a LoRA factor (the composed path's tape prunes it itself).
    const inputGrad = lin.stage > s.firstLoraStage;
    return fusedLoraLinear(x, lin.Wt, lin.bias, pair.A as tf.Tensor2D, pair.B as tf.Tensor2D, pair.scaling, inputGrad);
  }
  const y = frozenLinear(x, lin.Wt, lin.bias); // [N, out]
  if (!pair) return y;
  opts.hooks?.onLoraInput?.(lin.module, x);
  let xd = x;
  if (dropout) {
    const seed = (opts.dropoutSeed ?? 0) * 4099 + (s.moduleIndex.get(lin.module) ?? 0);
    xd = tf.dropout(x, s.loraDropout, undefined, seed) as tf.Tensor2D;
  }
  const mid = tf.mul(matMulT(xd, pair.A as tf.Tensor2D), pair.scaling) as tf.Tensor2D; // x·Aᵀ·s [N, r]
  return addSameShape(y, matMulT(mid, pair.B as tf.Tensor2D)); // + mid·Bᵀ [N, out] (saves neither part for the backward)
}

/** Additive causal mask [T·G, S] for query rows ordered (t, g) at positions offset+t over S = offset+T keys. */
function causalMask(T: number, offset: number, G: number): tf.Tensor2D {
  const S = offset + T;
  const m = new Float32Array(T * G * S);
  for (let t = 0; t < T; t++) {
    for (let g = 0; g < G; g++) m.fill(-1e9, (t * G + g) * S + offset + t + 1, (t * G + g + 1) * S);
  }
  return tf.tensor2d(m, [T * G, S]);
}

type KvPair = { k: tf.Tensor4D; v: tf.Tensor4D };

/**
 * Self-attention with RoPE and GQA over the cached keys/values (if any) and this call's; returns the heads' outputs
 * [B·T, H·hd] (o_proj's input) and, when `keepKv`, the keys and values for the cache.
 */
function attention(
  s: State,
  x: tf.Tensor2D,
  l: Layer,
  ctx: Ctx,
  past: KvPair | null,
  keepKv: boolean,
): { heads: tf.Tensor2D; kv: KvPair | null } {
  const { B, T } = ctx;
  const { numHeads: H, numKvHeads: KV, headDim: hd } = s.c;
  const G = s.G;
  if (fusedKernelsActive()) {
    // One kernel (each way when training) on wasm with the native matmul (src/wasm-fused.ts); the same steps as
    // below. With a KV cache (generation, no gradient) the kernel also returns the extended cache.
    const [q2, k2, v2] = [l.q, l.k, l.v].map((lin) => project(s, x, lin, ctx.opts));
    const shape = { B, T, H, KV, hd };
    if (!keepKv) return { heads: fusedAttention(q2!, k2!, v2!, ctx.cos, ctx.sin, shape), kv: null };
    const [o, k, v] = fusedAttentionCached(q2!, k2!, v2!, ctx.cos, ctx.sin, past, shape);
    return { heads: o, kv: { k, v } };
  }
  const q = project(s, x, l.q, ctx.opts).reshape([B, T, H, hd]) as tf.Tensor4D;
  const k = project(s, x, l.k, ctx.opts).reshape([B, T, KV, hd]) as tf.Tensor4D;
  const v = project(s, x, l.v, ctx.opts).reshape([B, T, KV, hd]) as tf.Tensor4D;
  const qr = applyRope(q, ctx.cos, ctx.sin, s.w.R);
  const kr = applyRope(k, ctx.cos, ctx.sin, s.w.R);
  // Fold the G query heads of each KV head into rows: head h = kv·G + g, rows ordered (t, g).
  const qh = tf.transpose(qr.reshape([B, T, KV, G * hd]), [0, 2, 1, 3]).reshape([B, KV, T * G, hd]);
  let kh = tf.transpose(kr, [0, 2, 1, 3]) as tf.Tensor4D; // [B, KV, T, hd]
  let vh = tf.transpose(v, [0, 2, 1, 3]) as tf.Tensor4D; // [B, KV, T, hd]
  if (past) {
    kh = tf.concat([past.k, kh], 2);
    vh = tf.concat([past.v, vh], 2);
  }
  let scores = tf.mul(product(qh, kh, false, true), 1 / Math.sqrt(hd)); // q·kᵀ [B, KV, T·G, S]
  if (ctx.mask) scores = tf.add(scores, ctx.mask);
  const probs = tf.softmax(scores); // over keys
  const o = tf.matMul(probs, vh); // [B, KV, T·G, hd]
  const merged = tf.transpose(o.reshape([B, KV, T, G * hd]), [0, 2, 1, 3]).reshape([B * T, H * hd]) as tf.Tensor2D;
  return { heads: merged, kv: keepKv ? { k: kh, v: vh } : null };
}

/** The SwiGLU MLP: down(SiLU(gate(x)) · up(x)). */
function mlp(s: State, x: tf.Tensor2D, l: Layer, opts: ForwardOptions): tf.Tensor2D {
  const gate = project(s, x, l.gate, opts); // [N, ffn]
  const up = project(s, x, l.up, opts);
  const h = fusedKernelsActive() ? fusedSwiGlu(gate, up) : tf.mul(tf.mul(gate, tf.sigmoid(gate)), up); // SiLU(gate)·up
  return project(s, h as tf.Tensor2D, l.down, opts); // [N, d]
}

/**
 * The stack on ids [B, T] at positions offset…; returns normed hidden [B·T, d] (with `rows`: at those flat positions
 * only, [M, d]) and each layer's keys/values.
 */
function runStack(
  s: State,
  ids: tf.Tensor2D,
  offset: number,
  cache: KvCache | null,
  opts: ForwardOptions,
  rows?: readonly number[],
): { h: tf.Tensor2D; ks: tf.Tensor4D[]; vs: tf.Tensor4D[] } {
  const { c, w } = s;
  const [B, T] = ids.shape;
  if (offset + T > c.maxPositionEmbeddings) {
    throw new RangeError(
      `sequence of ${offset + T} tokens exceeds max_position_embeddings ${c.maxPositionEmbeddings} of this model`,
    );
  }
  const idsI = ids.dtype === "int32" ? ids : tf.cast(ids, "int32");
  let x = s.embedLookup(idsI.reshape([B * T]) as tf.Tensor1D); // [N, d]
  const { cos, sin } = ropeTables(s.invFreq, offset, T);
  const ctx: Ctx = { B, T, offset, cos, sin, mask: T > 1 ? causalMask(T, offset, s.G) : null, opts };
  const ks: tf.Tensor4D[] = [];
  const vs: tf.Tensor4D[] = [];
  w.layers.forEach((l, i) => {
    const past = cache && cache.k[i] && cache.v[i] ? { k: cache.k[i]!, v: cache.v[i]! } : null;
    // The last layer's keys and values need every position; from o_proj on each row is on its own, so only the rows
    // asked for go on.
    const keep = i === w.layers.length - 1 ? rows : undefined;
    // One tidy per layer frees its intermediates at once (what backward needs is saved by the tape).
    const [next, ...kv] = tf.tidy(() => {
      const a = attention(s, rmsNorm(x, l.inputNorm, c.rmsNormEps), l, ctx, past, cache !== null);
      const [res, heads] = keep ? [gatherRows(x, keep), gatherRows(a.heads, keep)] : [x, a.heads];
      // residuals: addSameShape keeps the o_proj and MLP outputs out of the tape
      const h = addSameShape(res, project(s, heads, l.o, ctx.opts));
      return [
        addSameShape(h, mlp(s, rmsNorm(h, l.postNorm, c.rmsNormEps), l, opts)),
        ...(a.kv ? [a.kv.k, a.kv.v] : []),
      ];
    });
    x = next as tf.Tensor2D;
    if (kv.length) {
      ks.push(kv[0] as tf.Tensor4D);
      vs.push(kv[1] as tf.Tensor4D);
    }
  });
  return { h: rmsNorm(x, w.finalNorm, c.rmsNormEps), ks, vs };
}

function checkIds(ids: tf.Tensor): asserts ids is tf.Tensor2D {
  if (ids.rank !== 2) throw new Error(`decoder: ids must be [B, T], got shape [${ids.shape.join(", ")}]`);
}

/** Checks flat row indices into ids [B, T]; returns them, or undefined when they are every row in order. */
function checkRows(ids: tf.Tensor2D, rows: readonly number[], what: string): readonly number[] | undefined {
  const N = ids.shape[0] * ids.shape[1];
  if (
    rows.length === 0 ||
    new Set(rows).size !== rows.length ||
    rows.some((r) => !(r >= 0 && r < N && Number.isInteger(r)))
  )
    throw new Error(`decoder.${what}: rows must be distinct integers in [0, ${N}) (B·T), at least one`);
  return rows.length === N && rows.every((r, i) => r === i) ? undefined : rows;
}

/** Index the pairs by module, refusing modules this model lacks and duplicates. */
function loraByModule(layers: readonly Layer[], pairs: readonly AttachedLora[]): Map<string, AttachedLora> {
  const known = new Set(layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].map((m) => m.module)));
  const byModule = new Map<string, AttachedLora>();
  for (const p of pairs) {
    if (!known.has(p.module)) {
      throw new Error(
        `LoRA module "${p.module}" is not a linear layer of this model (e.g. model.layers.0.self_attn.q_proj)`,
      );
    }
    if (byModule.has(p.module)) throw new Error(`LoRA module "${p.module}" given twice`);
    byModule.set(p.module, p);
  }
  return byModule;
}

function emptyCache(numLayers: number): KvCache {
  const cache: KvCache = {
    length: 0,
    k: Array.from({ length: numLayers }, () => null),
    v: Array.from({ length: numLayers }, () => null),
    dispose() {
      for (const t of [...cache.k, ...cache.v]) t?.dispose();
      cache.k.fill(null);
      cache.v.fill(null);
      cache.length = 0;
    },
  };
  return cache;
}

/**
 * Run ids after the cached tokens; the cache takes this call's keys/values. Returns hidden [B, T, d], or [M, d] at
 * `rows` (flat positions of ids).
 */
function cachedStep(s: State, ids: tf.Tensor2D, cache: KvCache, rows?: readonly number[]): tf.Tensor {
  const [B, T] = ids.shape;
  const out = tf.tidy(() => {
    const r = runStack(s, ids, cache.length, cache, {}, rows);
    return [rows ? r.h : r.h.reshape([B, T, s.c.hiddenSize]), ...r.ks, ...r.vs];
  });
  const L = s.w.layers.length;
  for (let i = 0; i < L; i++) {
    cache.k[i]?.dispose();
    cache.v[i]?.dispose();
    // kept: step() may run inside the caller's tf.tidy, and the cache outlives it
    cache.k[i] = tf.keep(out[1 + i] as tf.Tensor4D);
    cache.v[i] = tf.keep(out[1 + L + i] as tf.Tensor4D);
  }
  cache.length += T;
  return out[0]!;
}

/** Build the decoder from HF-named weights. A Map is consumed (its tensors are owned, transposed or disposed). */
export function buildDecoder(config: ModelConfig, weights: Map<string, tf.Tensor> | WeightSource): Decoder {
  const source: WeightSource =
    typeof weights === "function"
      ? weights
      : (name, shape) => {
          const t = weights.get(name);
          if (!t) throw new WeightShapeError(`missing tensor "${name}" (expected shape [${shape.join(", ")}])`);
          weights.delete(name);
          return t;
        };
  const w = loadWeights(config, source);
  const s: State = {
    c: config,
    w,
    invFreq: ropeInvFreq(config),
    G: config.numHeads / config.numKvHeads,
    embedLookup: frozenEmbedding(w.embed),
    lora: new Map(),
    firstLoraStage: Infinity,
    loraDropout: 0,
    moduleIndex: new Map(),
  };
  const d = config.hiddenSize;

  const decoder: Decoder = {
    config,
    get lora() {
      return [...s.lora.values()];
    },
    get loraDropout() {
      return s.loraDropout;
    },
    lmHead: { weight: w.lmHeadW },
    attachLora(pairs, opts = {}) {
      s.lora = loraByModule(w.layers, pairs);
      const stages = w.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]);
      s.firstLoraStage = Math.min(...stages.filter((m) => s.lora.has(m.module)).map((m) => m.stage));
      s.moduleIndex = new Map([...s.lora.keys()].map((m, i) => [m, i]));
      s.loraDropout = opts.dropout ?? 0;
    },
    removeLora() {
      const pairs = [...s.lora.values()];
      s.lora = new Map();
      s.firstLoraStage = Infinity;
      s.moduleIndex = new Map();
      return pairs;
    },
    hidden(ids, opts = {}) {
      checkIds(ids);
      const [B, T] = ids.shape;
      return tf.tidy(() => runStack(s, ids, 0, null, opts).h.reshape([B, T, d]) as tf.Tensor3D);
    },
    hiddenAt(ids, rows, opts = {}) {
      checkIds(ids);
      const keep = checkRows(ids, rows, "hiddenAt");
      return tf.tidy(() => runStack(s, ids, 0, null, opts, keep).h);
    },
    forward(ids, opts = {}) {
      checkIds(ids);
      const [B, T] = ids.shape;
      return tf.tidy(
        () => decoder.logits(runStack(s, ids, 0, null, opts).h).reshape([B, T, config.vocabSize]) as tf.Tensor3D,
      );
    },
    logits(h) {
      return frozenLinearT(h, w.lmHeadW); // [M, V]
    },
    newCache() {
      return emptyCache(w.layers.length);
    },
    step(ids, cache) {
      checkIds(ids);
      return cachedStep(s, ids, cache) as tf.Tensor3D;
    },
    stepAt(ids, cache, rows) {
      checkIds(ids);
      const keep = checkRows(ids, rows, "stepAt");
      return (keep ? cachedStep(s, ids, cache, keep) : cachedStep(s, ids, cache).reshape([-1, d])) as tf.Tensor2D;
    },
    dispose() {
      for (const t of w.owned) t.dispose();
      w.owned.length = 0;
      for (const p of s.lora.values()) tf.dispose([p.A, p.B]);
      s.lora = new Map();
    },
  };
  return decoder;
}
