// Resumable training state in <run>/checkpoint/: the LoRA factors and the optimizer's tensors as safetensors
// (float32, bit-exact), and state.json with the step, the optimizer's JSON state (e.g. Stable-LoRA's per-module
// flags, which the official code loses on resume) and the config hash. The data order and dropout seeds are
// functions of (seed, step), so the step is all the data position there is. Written to checkpoint.tmp/ and renamed
// into place, so a crash mid-write leaves the previous checkpoint intact.
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { openCheckpoint, writeSafetensors } from "../models/safetensors.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraOptimizer } from "../optim/types.ts";
import { readTensor } from "../util/read.ts";

export interface CheckpointState {
  /** Optimizer steps completed. */
  step: number;
  configHash: string;
  optimizer: unknown;
  /** Seconds of training so far (so a resumed run's timings add up). */
  trainSeconds: number;
}

const LORA_FILE = "lora.safetensors";
const OPTIM_FILE = "optimizer.safetensors";
const STATE_FILE = "state.json";

async function toWrite(name: string, t: tf.Tensor) {
  return { name, shape: t.shape, data: await readTensor(t) };
}

export async function saveCheckpoint(dir: string, pairs: readonly LoraPair[], optimizer: LoraOptimizer, state: Omit<CheckpointState, "optimizer">): Promise<void> {
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const lora = [];
  for (const p of pairs) lora.push(await toWrite(p.A.name, p.A), await toWrite(p.B.name, p.B));
  writeSafetensors(path.join(tmp, LORA_FILE), lora);
  const os = optimizer.getState();
  try {
    const tensors = [];
    for (const [k, t] of Object.entries(os.tensors)) tensors.push(await toWrite(k, t));
    // safetensors needs at least a header; an optimizer with no tensors writes an empty file set.
    writeSafetensors(path.join(tmp, OPTIM_FILE), tensors);
  } finally {
    tf.dispose(Object.values(os.tensors));
  }
  const full: CheckpointState = { ...state, optimizer: os.json };
  fs.writeFileSync(path.join(tmp, STATE_FILE), JSON.stringify(full, null, 2) + "\n");
  const old = `${dir}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/** The checkpoint's state, or null when there is none (a crash before the first checkpoint). */
export function readCheckpointState(dir: string): CheckpointState | null {
  // A crash between the two renames leaves only checkpoint.old: it is complete, so use it.
  for (const d of [dir, `${dir}.old`]) {
    const f = path.join(d, STATE_FILE);
    if (fs.existsSync(f)) return JSON.parse(fs.readFileSync(f, "utf8")) as CheckpointState;
  }
  return null;
}

/** Load LoRA factors and optimizer state saved by saveCheckpoint into live pairs and a fresh optimizer. */
export function loadCheckpoint(dir: string, pairs: readonly LoraPair[], optimizer: LoraOptimizer): CheckpointState {
  const d = fs.existsSync(path.join(dir, STATE_FILE)) ? dir : `${dir}.old`;
  const state = readCheckpointState(dir);
  if (!state) throw new Error(`${dir}: no checkpoint to resume from`);
  const lora = openCheckpoint(path.join(d, LORA_FILE));
  try {
    for (const p of pairs) {
      for (const v of [p.A, p.B]) tf.tidy(() => v.assign(tf.tensor(lora.readF32(v.name, v.shape), v.shape)));
    }
  } finally {
    lora.close();
  }
  const opt = openCheckpoint(path.join(d, OPTIM_FILE));
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const [name, e] of opt.entries) tensors[name] = tf.tensor(opt.readF32(name), e.shape);
    optimizer.setState({ tensors, json: state.optimizer });
  } finally {
    opt.close();
    tf.dispose(Object.values(tensors));
  }
  return state;
}
