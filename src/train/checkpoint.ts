// Resumable training state in <run>/checkpoint/: the LoRA factors and the optimizer's tensors as safetensors
// (float32, bit-exact), and state.json with the step, the optimizer's JSON state (e.g. Stable-LoRA's per-module
// flags, which the official code loses on resume) and the config hash. The data order and dropout seeds are
// functions of (seed, step), so the step is all the data position there is.
// A save writes a folder with a unique temp name (several workers may share a results folder), fsyncs every file
// and the folder, reads it back to verify it, and only then moves the current checkpoint to checkpoint.prev/ and
// renames the new one into place. On resume a checkpoint that does not verify (a truncated file) is moved aside to
// checkpoint.broken-<time>/ and the previous one is used; with neither the cell restarts from step 0. Every such
// fallback is logged. See docs/scale-out.md.
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { openCheckpoint, writeSafetensors } from "../models/safetensors.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraOptimizer } from "../optim/types.ts";
import { fileError, fsyncDir, uniqueTmpSuffix, writeFileSynced } from "../results.ts";
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

const PREV_SUFFIX = ".prev";
/** The folder name of an earlier version's previous checkpoint (left by a crash between two renames). */
const LEGACY_OLD_SUFFIX = ".old";

/** Move a folder out of the way under a unique name and delete it (a concurrent reader never sees it half-deleted). */
function removeDir(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const trash = `${dir}.trash-${uniqueTmpSuffix()}`;
  try {
    fs.renameSync(dir, trash);
  } catch {
    return; // someone else moved it already
  }
  fs.rmSync(trash, { recursive: true, force: true });
}

export async function saveCheckpoint(
  dir: string,
  pairs: readonly LoraPair[],
  optimizer: LoraOptimizer,
  state: Omit<CheckpointState, "optimizer">,
): Promise<void> {
  const tmp = `${dir}.${uniqueTmpSuffix()}`;
  try {
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
    writeFileSynced(path.join(tmp, STATE_FILE), JSON.stringify(full, null, 2) + "\n");
    fsyncDir(tmp);
    verifyCheckpoint(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e instanceof Error && /^(write|rename into|append to) /.test(e.message)
      ? e
      : fileError(dir, e, "write checkpoint");
  }
  // The new checkpoint is complete on disk: keep the current one as the previous good one, then switch.
  const prev = `${dir}${PREV_SUFFIX}`;
  removeDir(prev);
  if (fs.existsSync(dir)) fs.renameSync(dir, prev);
  fs.renameSync(tmp, dir);
  fsyncDir(path.dirname(dir));
  removeDir(`${dir}${LEGACY_OLD_SUFFIX}`);
}

/** Throws unless the folder holds a readable state.json and both safetensors files open with all their bytes. */
export function verifyCheckpoint(dir: string): CheckpointState {
  const stateFile = path.join(dir, STATE_FILE);
  let state: CheckpointState;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as CheckpointState;
  } catch (e) {
    throw new Error(`${stateFile}: ${(e as Error).message}`);
  }
  if (!Number.isInteger(state?.step) || state.step < 0) throw new Error(`${stateFile}: no valid step`);
  for (const f of [LORA_FILE, OPTIM_FILE]) openCheckpoint(path.join(dir, f)).close(); // checks header and file size
  return state;
}

/**
 * The newest checkpoint that verifies: checkpoint/, else checkpoint.prev/ (or an earlier version's checkpoint.old/).
 * Corrupt ones are moved to checkpoint.broken-<time>/ (kept for inspection) and logged. null when none is usable.
 */
export function findCheckpoint(
  dir: string,
  log: (msg: string) => void = () => {},
): { dir: string; state: CheckpointState } | null {
  for (const d of [dir, `${dir}${PREV_SUFFIX}`, `${dir}${LEGACY_OLD_SUFFIX}`]) {
    if (!fs.existsSync(d)) continue;
    try {
      return { dir: d, state: verifyCheckpoint(d) };
    } catch (e) {
      const broken = `${dir}.broken-${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}`;
      try {
        fs.renameSync(d, broken);
      } catch {
        // another worker moved it first
      }
      log(
        `checkpoint ${d} is corrupt (${(e as Error).message}); moved it to ${path.basename(broken)} and ` +
          `${d === dir ? "trying the previous checkpoint" : "trying the next older one"}`,
      );
    }
  }
  return null;
}

/** The checkpoint's state, or null when there is none usable (a crash before the first checkpoint). */
export function readCheckpointState(dir: string, log?: (msg: string) => void): CheckpointState | null {
  return findCheckpoint(dir, log)?.state ?? null;
}

/** Load LoRA factors and optimizer state saved by saveCheckpoint into live pairs and a fresh optimizer. */
export function loadCheckpoint(dir: string, pairs: readonly LoraPair[], optimizer: LoraOptimizer): CheckpointState {
  const found = findCheckpoint(dir);
  if (!found) throw new Error(`${dir}: no checkpoint to resume from`);
  const { dir: d, state } = found;
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
