// The contract between the LoRA layers, the training loop and every optimizer. Optimizers receive explicit
// (A, B) pairs and never pair tensors by name substitution or list order (docs/optimizers.md §1).
import type * as tf from "@tensorflow/tfjs";
import type { OptimizerName } from "../config.ts";

export { OPTIMIZER_NAMES, type OptimizerName } from "../config.ts";

/** Gradients of the loss for each pair, keyed by the variables' names (tf.variableGrads' output). */
export type LoraGrads = tf.NamedTensorMap;

/**
 * What an optimizer reports after a step, for metrics.jsonl. `scalars` are logged as `optim/<key>`;
 * `modules` holds per-module values (e.g. Stable-LoRA's stop step, null while still shrinking).
 */
export interface StepStats {
  readonly scalars: Readonly<Record<string, number>>;
  readonly modules?: Readonly<Record<string, Readonly<Record<string, number | null>>>>;
}

/** Serialisable optimizer state: tensors (moments, bases) plus JSON (step count, flags). */
export interface OptimizerState {
  readonly tensors: Readonly<Record<string, tf.Tensor>>;
  readonly json: unknown;
}

export interface LoraOptimizer {
  readonly name: OptimizerName;
  /**
   * One update of every pair with the already-scheduled learning rate. Runs its own tf.tidy. Asynchronous because
   * some optimizers read r×r matrices to the host mid-step, and WebGPU has no synchronous read (src/util/read.ts).
   */
  step(grads: LoraGrads, lr: number): Promise<StepStats>;
  /** Copies of the state for a checkpoint (the caller disposes the tensors). */
  getState(): OptimizerState;
  /** Restore from getState()'s output (tensors are copied; the caller keeps ownership of its tensors). */
  setState(state: OptimizerState): void;
  /** Free every tensor the optimizer owns. */
  dispose(): void;
}
