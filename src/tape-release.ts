// Frees each tape node's gradient inputs and saved tensors as soon as the backward pass is done with them (see
// docs/engine.md §3). tfjs-core 4.22's backpropagateGradients (dist/tape.js) keeps the accumulated gradient of every
// intermediate tensor, and every tensor saved for the backward, alive until the whole backward ends: on a
// Qwen2-0.5B-shaped LoRA step that held ~0.8 GB of gradients on top of the ~0.9 GB the forward saved. Walking the tape
// in reverse, once node N's input gradients are formed nothing reads N's output gradients (each tensor has one
// producer) or N's saved tensors (only N's gradient function does) again, so they are released when the next node
// starts. The same kernels run in the same order: results are bit-identical. Only tensors the backward itself
// created (or the saved clones) are released, never one that also became an input's gradient, and nothing while an
// outer tape records (higher-order gradients need them).
import * as tf from "@tensorflow/tfjs";

/** The parts of tfjs-core's Engine (dist/engine.js) this patch wraps. */
interface TapeNode {
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}
interface EngineLike {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  addTapeNode(...args: unknown[]): void;
  gradients(f: () => tf.Tensor, ...rest: unknown[]): unknown;
  constructor: { nextTensorId: number };
}

/** One backward pass in progress (nested tf.grads inside a gradient function get their own). */
interface Pass {
  /** Tensor ids ≥ this were created after the forward returned, i.e. by the backward: only those dys are released. */
  firstBackwardId: number;
  /** What the previous node's backward used: released when the next node starts. */
  pending: tf.Tensor[];
  /** How often each tensor was handed back as an input's gradient: one handed back twice feeds two nodes. */
  handedBack: Map<tf.Tensor, number>;
}

let installed = false;
let active = true;

/** Turns the release on or off after installation (tests compare both; the gradients are the same either way). */
export function setTapeRelease(on: boolean): void {
  active = on;
}

/** Patches the engine once (any backend). LORA_LAB_TAPE_RELEASE=0 leaves tfjs as it is (to measure the difference). */
export function enableTapeRelease(): boolean {
  if (installed) return true;
  if (process.env.LORA_LAB_TAPE_RELEASE === "0") return false;
  const engine = tf.engine() as unknown as EngineLike;
  const passes: Pass[] = [];
  const addTapeNode = engine.addTapeNode.bind(engine);
  const gradients = engine.gradients.bind(engine);

  engine.gradients = (f, ...rest) => {
    const pass: Pass = { firstBackwardId: Infinity, pending: [], handedBack: new Map() };
    passes.push(pass);
    try {
      return gradients(
        () => {
          const y = f();
          pass.firstBackwardId = engine.constructor.nextTensorId;
          return y;
        },
        ...rest,
      );
    } finally {
      passes.pop();
    }
  };

  engine.addTapeNode = (...args) => {
    addTapeNode(...args);
    const tape = engine.state.activeTape!;
    const node = tape[tape.length - 1]!;
    const saved = node.saved ?? [];
    const gradient = node.gradient;
    if (!gradient) return;
    node.gradient = (dys) => {
      const pass = passes[passes.length - 1];
      if (!active || !pass || engine.state.gradientDepth > 0) return gradient(dys);
      for (const t of pass.pending) t.dispose(); // the previous node is done (dispose is a no-op when already done)
      const ownDy = (t: tf.Tensor | null): t is tf.Tensor =>
        t !== null && t.id >= pass.firstBackwardId && (pass.handedBack.get(t) ?? 0) <= 1;
      pass.pending = [...dys.filter(ownDy), ...saved];
      const dxs = gradient(dys);
      // A gradient function that hands back one of these tensors as an input's gradient: keep that one alive.
      const wrapped: Record<string, () => tf.Tensor> = {};
      for (const [name, dx] of Object.entries(dxs)) {
        wrapped[name] = () => {
          const t = dx();
          pass.pending = pass.pending.filter((p) => p !== t);
          pass.handedBack.set(t, (pass.handedBack.get(t) ?? 0) + 1);
          return t;
        };
      }
      return wrapped;
    };
  };
  return (installed = true);
}
