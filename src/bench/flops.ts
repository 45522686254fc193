// FLOP count of one LoRA training step and of one forward pass of the Llama/Qwen2 decoder, matmuls only (a
// multiply-add is 2 FLOP), following docs/engine.md §7: frozen weights need only the input gradient
// dX (no dW — the third of the work LoRA saves), the embedding is a free lookup, and the full T×T attention score
// matrix is counted (every engine computes it). Elementwise work (norms, RoPE, softmax, SiLU, the cross-entropy,
// the optimizer) is left out: < 1 % of the FLOPs, though not of the time. llama-4x256 at 8×128: 18.41 / 8.93 GFLOP.
import type { LoraTarget } from "../config.ts";
import type { ModelConfig } from "../models/model-config.ts";

export interface FlopBreakdown {
  /** Forward: 2·N·(frozen linears + lm_head + LoRA) + attention. */
  forward: number;
  /** Backward: frozen dX + LoRA (dB, d(mid), dA, dX) + attention (both operands are activations). */
  backward: number;
  /** forward + backward (one optimizer step; the optimizer itself is not counted). */
  step: number;
  parts: {
    linearsForward: number;
    lmHeadForward: number;
    loraForward: number;
    attentionForward: number;
    frozenDx: number;
    loraBackward: number;
    attentionBackward: number;
  };
}

interface Module {
  readonly target: LoraTarget;
  readonly inDim: number;
  readonly outDim: number;
}

/** The seven linears of one layer with their [in → out] widths. */
function layerModules(c: ModelConfig): Module[] {
  const d = c.hiddenSize,
    qOut = c.numHeads * c.headDim,
    kvOut = c.numKvHeads * c.headDim,
    f = c.intermediateSize;
  return [
    { target: "q_proj", inDim: d, outDim: qOut },
    { target: "k_proj", inDim: d, outDim: kvOut },
    { target: "v_proj", inDim: d, outDim: kvOut },
    { target: "o_proj", inDim: qOut, outDim: d },
    { target: "gate_proj", inDim: d, outDim: f },
    { target: "up_proj", inDim: d, outDim: f },
    { target: "down_proj", inDim: f, outDim: d },
  ];
}

/** q, k and v read the layer input (the normed residual stream); the other four read activations of the layer. */
const READS_LAYER_INPUT: ReadonlySet<LoraTarget> = new Set(["q_proj", "k_proj", "v_proj"]);

/**
 * FLOPs of a LoRA step with adapters of rank r on `targets` in every layer, batch B sequences of T tokens.
 * Layer 0's q/k/v read the (frozen) embedding, so no gradient flows into their input: their dX, frozen and LoRA,
 * is skipped, exactly as autodiff skips it. (With LoRA in every layer, nothing else can be skipped.)
 */
export function loraStepFlops(
  c: ModelConfig,
  lora: { r: number; targets: readonly LoraTarget[] },
  B: number,
  T: number,
): FlopBreakdown {
  const N = B * T; // tokens
  const L = c.numLayers;
  const mods = layerModules(c);
  const targets = new Set(lora.targets);
  const r = lora.r;

  let linearParams = 0; // frozen linear weights, all layers
  let layer0InputParams = 0; // frozen weights whose input is the embedding (layer 0 q/k/v)
  let loraParams = 0; // r·(in + out) per adapted module, all layers
  let loraLayer0InputDx = 0; // A's dX for layer-0 q/k/v adapters: r·in each
  for (const m of mods) {
    linearParams += L * m.inDim * m.outDim;
    if (READS_LAYER_INPUT.has(m.target)) layer0InputParams += m.inDim * m.outDim;
    if (targets.has(m.target)) {
      loraParams += L * r * (m.inDim + m.outDim);
      if (READS_LAYER_INPUT.has(m.target)) loraLayer0InputDx += r * m.inDim;
    }
  }
  const lmHeadParams = c.vocabSize * c.hiddenSize; // tied or not, the product is the same

  const linearsForward = 2 * N * linearParams;
  const lmHeadForward = 2 * N * lmHeadParams;
  const loraForward = 2 * N * loraParams; // x·Aᵀ [N,r] then mid·Bᵀ [N,out]
  // Per layer and query head: scores Q·Kᵀ [T,hd]·[hd,T] and P·V [T,T]·[T,hd], each 2·T²·hd; GQA shares K/V, not FLOPs.
  const attentionForward = L * 2 * (2 * B * c.numHeads * T * T * c.headDim);
  const forward = linearsForward + lmHeadForward + loraForward + attentionForward;

  // Frozen weights: dX = dY·W costs what the forward product costs; no dW. The embedding needs no gradient.
  const frozenDx = 2 * N * (linearParams + lmHeadParams - layer0InputParams);
  // LoRA: dB = dYᵀ·mid and d(mid) = dY·B ([N,out]×[out,r] each), dA = d(mid)ᵀ·x and dX = d(mid)·A ([N,r]×[r,in] each):
  // twice the forward, minus the dX into layer 0's embedding input.
  const loraBackward = 2 * loraForward - 2 * N * loraLayer0InputDx;
  // Attention: dQ, dK from dScores and dP, dV from dO — both operands are activations, so twice the forward.
  const attentionBackward = 2 * attentionForward;
  const backward = frozenDx + loraBackward + attentionBackward;

  return {
    forward,
    backward,
    step: forward + backward,
    parts: { linearsForward, lmHeadForward, loraForward, attentionForward, frozenDx, loraBackward, attentionBackward },
  };
}

/** FLOPs of a plain forward (scoring) over B×T tokens with no adapters. */
export function forwardFlops(c: ModelConfig, B: number, T: number): number {
  return loraStepFlops(c, { r: 0, targets: [] }, B, T).forward;
}
