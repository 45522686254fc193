// The interface between evaluation (tasks, metrics) and a model: lm-evaluation-harness's request types.
// Tasks and metrics never see tensors; src/eval/model-lm.ts implements this for our decoder (+ LoRA adapter).

import type { LoglikelihoodRequest } from "../tasks/types.ts";

export type { LoglikelihoodRequest };

export interface LoglikelihoodResult {
  /** Sum of log p(continuation token | prefix) over the continuation's tokens (natural log). */
  readonly logprob: number;
  /** True when every continuation token is the argmax of its next-token distribution. */
  readonly isGreedy: boolean;
}

/** lm-eval `generate_until`: greedy decoding from `context` until a stop string or maxNewTokens. */
export interface GenerateRequest {
  readonly context: string;
  readonly until: readonly string[];
  readonly maxNewTokens: number;
}

export interface LanguageModel {
  loglikelihood(
    requests: readonly LoglikelihoodRequest[],
    opts?: { batchSize?: number; onProgress?: (done: number, total: number) => void },
  ): Promise<LoglikelihoodResult[]>;
  /** Returns the generated text with the stop string (and anything after it) removed. */
  generateUntil(
    requests: readonly GenerateRequest[],
    opts?: { onProgress?: (done: number, total: number) => void },
  ): Promise<string[]>;
}
