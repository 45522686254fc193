// A LoRA pair as the rest of the harness sees it: the factors the decoder applies (src/models/decoder.ts
// AttachedLora: y = x·W0ᵀ + scaling·(x·Aᵀ)·Bᵀ) plus their dimensions. Optimizers receive explicit (A, B) pairs and
// never pair tensors by name substitution or list order.
import type { AttachedLora } from "../models/decoder.ts";

/** One adapted module: W = W0 + scaling · B·A. Variable names are PEFT's: `<module>.lora_A.weight`. */
export interface LoraPair extends AttachedLora {
  readonly inDim: number;
  readonly outDim: number;
  readonly r: number;
}
