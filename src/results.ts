// The results folder: the one contract between the runner (writer) and the reporter (reader).
// results/<experiment>/<runId>/ holds config.json (written first), metrics.jsonl (one line per logged step),
// eval.jsonl (periodic and final evaluations), samples.jsonl (per-document records of the final evaluation),
// adapter/ (PEFT format), checkpoint/ (resume state) and summary.json (written last, success or not).
// Every whole-file write is atomic (temp file + rename), so a crash never leaves a half-written file.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { GpuAdapterInfo } from "./webgpu.ts";

export const RESULTS_SCHEMA_VERSION = 1;

/** Per LoRA module, logged every step. normRatio = (‖A‖/in)/(‖B‖/out); Stable-LoRA stops when it drops below 1. */
export interface ModuleSignals {
  normA: number;
  normB: number;
  /** null while B = 0 (the ratio is infinite; JSON has no Infinity). */
  normRatio: number | null;
  gradNormA: number;
  gradNormB: number;
  /** Stable-LoRA: the step at which this module stopped shrinking, null while it still shrinks; absent otherwise. */
  stopStep?: number | null;
}

/** Feature-update decomposition on the probe batch (RMS over all entries), logged every stability.probeEvery steps. */
export interface DeltaSignals {
  d1: number; // rms(s·ΔB·A·Z)
  d2: number; // rms(s·B·ΔA·Z)
  d3: number; // rms(s·ΔB·ΔA·Z)
  dY: number; // rms(ΔY)
  /** ‖ΔY − (δ1+δ2+δ3)‖ / ‖ΔY‖: the identity check (≈ float32 round-off). */
  identityError: number;
}

export interface MetricsRecord {
  /** Optimizer steps completed (1-based). */
  step: number;
  loss: number;
  lr: number;
  /** Token positions processed in this step's batch (B·T, padding included). */
  tokens: number;
  /** Continuation tokens the loss averaged over. */
  lossTokens: number;
  tokensPerSec: number;
  stepSeconds: number;
  gradNorm: number;
  gradNormA: number;
  gradNormB: number;
  /** Means over modules of ‖A‖_F and ‖B‖_F. */
  normA: number;
  normB: number;
  nonFinite: number;
  numTensors: number;
  /** Optimizer-specific scalars (StepStats.scalars), e.g. "stable/shrinking". */
  optim: Record<string, number>;
  modules: Record<string, ModuleSignals>;
  /** Present on probe steps. */
  delta?: Record<string, DeltaSignals>;
}

export interface EvalRecord {
  step: number;
  task: string;
  split: string;
  n: number;
  /** lm-eval keys: "acc,none", "acc_stderr,none", "acc_norm,none", "exact_match,strict-match", … */
  metrics: Record<string, number>;
  seconds: number;
  final: boolean;
}

export type RunStatus = "running" | "success" | "failed" | "diverged" | "interrupted";

export interface DeltaWSpectrum {
  /** Singular values of ΔW = s·B·A, descending (at most r). */
  singularValues: number[];
  spectralNorm: number;
  nuclearNorm: number;
  /** exp(entropy of σ/Σσ) (Roy & Vetterli). */
  effectiveRank: number;
}

export interface Provenance {
  gitSha: string | null;
  gitDirty: boolean | null;
  packages: Record<string, string>;
  backend: { name: string; provider: string; detail: string; gpu?: GpuAdapterInfo };
  node: string;
  platform: string;
  cpus: number;
  hostname: string;
}

export interface RunSummary {
  schemaVersion: number;
  runId: string;
  configHash: string;
  experiment: string;
  status: RunStatus;
  error?: string;
  /** The step at which loss or gradients became non-finite. */
  divergedAtStep?: number;
  startedAt: string;
  finishedAt?: string;
  stepsCompleted: number;
  trainSeconds: number;
  evalSeconds: number;
  medianStepSeconds?: number;
  peakRssMB?: number;
  /** The base model's shape (for width plots). */
  model?: { hiddenSize: number; numLayers: number; modelType: string };
  /** sha256 (16 hex) of the initial LoRA factors: same seed ⇒ same A0. */
  initAdapterSha256?: string;
  /** The folder's earlier name, when `sweep --migrate-ids` renamed it to today's run id. */
  migratedFrom?: string;
  /** Tensors left allocated after the run (should be 0). */
  leakedTensors?: number;
  /** Final metrics by task, lm-eval keys. */
  final: Record<string, Record<string, number>>;
  stability?: {
    stopSteps?: Record<string, number | null>;
    finalNormRatio?: Record<string, number | null>;
    deltaW?: Record<string, DeltaWSpectrum>;
  };
  provenance: Provenance;
}

export const RUN_FILES = {
  config: "config.json",
  metrics: "metrics.jsonl",
  eval: "eval.jsonl",
  samples: "samples.jsonl",
  summary: "summary.json",
  adapter: "adapter",
  checkpoint: "checkpoint",
} as const;

export function runDir(resultsDir: string, experiment: string, runId: string): string {
  return path.join(resultsDir, experiment, runId);
}

/** A temp-file suffix no other process or host can pick (several workers may write one run folder's files). */
export function uniqueTmpSuffix(): string {
  return `tmp-${os.hostname()}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** An I/O error that names the file (Node's ENOSPC on write names none) and keeps the errno code. */
export function fileError(file: string, e: unknown, what = "write"): Error {
  const err = e as NodeJS.ErrnoException;
  const hint = err.code === "ENOSPC" ? " (the disk is full: free space and rerun; finished results are intact)" : "";
  const out = new Error(`${what} ${file}: ${err.code ?? ""}${err.code ? " " : ""}${err.message}${hint}`);
  (out as NodeJS.ErrnoException).code = err.code;
  return out;
}

/** fsync a folder so a rename inside it survives a power loss (a no-op where folders cannot be opened). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a folder; the rename is still atomic
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Write bytes to a new file and fsync it. On any error the partial file is removed and the error names it. */
export function writeFileSynced(file: string, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, "w");
    for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fd = undefined;
    fs.rmSync(file, { force: true });
    throw fileError(file, e);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Write a whole file atomically: a temp file with a unique name in the same folder, fsync, rename over the target,
 * fsync the folder. A failure (a full disk) removes the temp file and names the target.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${uniqueTmpSuffix()}`;
  writeFileSynced(tmp, data);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fileError(file, e, "rename into");
  }
  fsyncDir(path.dirname(file));
}

const TEMP_NAME = /\.(tmp|trash)-[^/]+$/;

/**
 * Remove temp files and folders a killed writer left in a run folder (names from uniqueTmpSuffix, at any depth).
 * Only call it while holding the run's claim: another writer's temp files would be in use. Returns what was removed.
 */
export function removeTempFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .sort((a, b) => b.length - a.length)) {
    if (!TEMP_NAME.test(name)) continue;
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) continue;
    fs.rmSync(p, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
}

/** Append one JSON object as a line (flushed). A crash can at worst leave a partial last line, which readers skip. */
export function appendJsonl(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.appendFileSync(file, JSON.stringify(value) + "\n");
  } catch (e) {
    throw fileError(file, e, "append to");
  }
}

export interface JsonlRead<T> {
  rows: T[];
  /** 1-based line numbers that did not parse (e.g. a torn last line after a crash). */
  badLines: number[];
}

/** Read a JSONL file tolerantly: blank lines are ignored, unparsable lines are reported, not thrown. */
export function readJsonl<T = unknown>(file: string): JsonlRead<T> {
  const rows: T[] = [];
  const badLines: number[] = [];
  if (!fs.existsSync(file)) return { rows, badLines };
  const lines = fs.readFileSync(file, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      rows.push(JSON.parse(line) as T);
    } catch {
      badLines.push(i + 1);
    }
  });
  return { rows, badLines };
}
