// One run, top to bottom (a recipe, not a Trainer class): write config.json → load the model and inject LoRA →
// create the optimizer → resume from a checkpoint if one exists → train, logging stability signals every step and
// δ1/δ2/δ3 on probe steps → save the PEFT adapter → final evaluation → ΔW spectrum → summary.json.
// runTraining reads as that list; each item is a named function below, the step itself is in ./step.ts.
// A non-finite loss or gradient stops the run as "diverged"; an abort signal (SIGINT) checkpoints and stops it as
// "interrupted"; any error is recorded as "failed". summary.json is written in every case.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { assertBackendAlive, initBackend, type BackendInfo } from "../backend.ts";
import type { RunConfig } from "../config.ts";
import { loadModel, type LoadedModel } from "../models/load.ts";
import { isRandomModelSpec, loadRandomModel } from "../models/random-model.ts";
import { createOptimizer } from "../optim/index.ts";
import { lrAt } from "../optim/schedule.ts";
import type { LoraPair } from "../lora/pair.ts";
import type { LoraOptimizer } from "../optim/types.ts";
import { injectLora, loadAdapterInto, saveAdapter, disposePairs } from "../lora/lora.ts";
import { makeBatch, type TokenBatch } from "../models/batch.ts";
import { captureProbe, finishProbe, microBatches, trainStep, type StepResult } from "./step.ts";
import { DataOrder } from "./data-order.ts";
import { saveCheckpoint, loadCheckpoint, readCheckpointState } from "./checkpoint.ts";
import { provenance, peakRssMB } from "./provenance.ts";
import { readTensor, readValues } from "../util/read.ts";
import { jsonSafe } from "../stability/signals.ts";
import { deltaWSpectrum } from "../stability/spectrum.ts";
import { readPairsJsonl } from "../tasks/pairs-file.ts";
import { loadTrainExamples, getTask, MERGED_QA, QA_TASK_NAMES, type SplitName } from "../tasks/index.ts";
import { evaluateTask } from "../eval/evaluate.ts";
import { createLanguageModel } from "../eval/model-lm.ts";
import type { LoglikelihoodRequest } from "../eval/types.ts";
import { Rng } from "../util/rng.ts";
import {
  RESULTS_SCHEMA_VERSION,
  RUN_FILES,
  appendJsonl,
  readJsonl,
  writeJsonAtomic,
  writeFileAtomic,
  type DeltaWSpectrum,
  type EvalRecord,
  type MetricsRecord,
  type RunStatus,
  type RunSummary,
} from "../results.ts";

export interface StepProgress {
  step: number;
  totalSteps: number;
  loss: number;
  tokensPerSec: number;
  elapsedSeconds: number;
}

export interface RunContext {
  experiment: string;
  runId: string;
  configHash: string;
  /** The run folder (results/<experiment>/<runId>). */
  dir: string;
  /** Start from this PEFT adapter instead of the random init. */
  initAdapter?: string;
  /** Aborting checkpoints the run and ends it as "interrupted". */
  signal?: AbortSignal;
  onStep?: (p: StepProgress) => void;
  log?: (msg: string) => void;
  /** Already-loaded model to reuse across runs of a sweep (its LoRA is re-injected each run). */
  model?: LoadedModel;
}

/**
 * Drop log lines past the checkpoint's step (written after the last checkpoint, before a crash), and final-eval
 * lines (a crash during the final evaluation leaves some; it is rerun whole).
 */
function truncateJsonl(file: string, maxStep: number): void {
  if (!fs.existsSync(file)) return;
  const { rows } = readJsonl<{ step: number; final?: boolean }>(file);
  const kept = rows.filter((r) => typeof r.step === "number" && r.step <= maxStep && r.final !== true);
  writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + "\n").join(""));
}

async function loadTrainPairs(cfg: RunConfig): Promise<LoglikelihoodRequest[]> {
  if (cfg.data) return readPairsJsonl(cfg.data);
  if (!cfg.task)
    throw new Error(
      "nothing to train on: set task (e.g. --task arc_easy) or data (a JSONL file of {context, continuation})",
    );
  return (await loadTrainExamples(cfg.task, cfg.dataDir, { limit: cfg.train.limit, seed: cfg.seed })).examples;
}

/** Evaluate where the training task has an evaluation split; merged QA → the five QA tasks; MetaMathQA → GSM8K. */
export function defaultEvalTasks(task: string): string[] {
  if (task === MERGED_QA) return [...QA_TASK_NAMES];
  if (task === "metamathqa") return ["gsm8k"];
  const spec = getTask(task);
  return spec.outputType === "train_only" || !spec.splits.eval ? [] : [task];
}

async function adapterFingerprint(pairs: readonly LoraPair[]): Promise<string> {
  const h = createHash("sha256");
  for (const p of pairs) for (const v of [p.A, p.B]) h.update(new Uint8Array((await readTensor(v)).buffer));
  return h.digest("hex").slice(0, 16);
}

type RunFiles = { [K in keyof typeof RUN_FILES]: string };

function runFiles(dir: string): RunFiles {
  return Object.fromEntries(Object.entries(RUN_FILES).map(([k, f]) => [k, path.join(dir, f)])) as RunFiles;
}

function newSummary(ctx: RunContext, backend: BackendInfo): RunSummary {
  return {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    runId: ctx.runId,
    configHash: ctx.configHash,
    experiment: ctx.experiment,
    status: "running",
    startedAt: new Date().toISOString(),
    stepsCompleted: 0,
    trainSeconds: 0,
    evalSeconds: 0,
    final: {},
    provenance: provenance(backend),
  };
}

/** What a run holds while it trains; `model` etc. are filled in as they are made, so a failure frees what exists. */
interface Live {
  model?: LoadedModel;
  ownModel: boolean;
  pairs: LoraPair[];
  optimizer?: LoraOptimizer;
}

/** Everything the training loop reads: the data, its order, the probe batch and the evaluation tasks. */
interface Plan {
  examples: LoglikelihoodRequest[];
  order: DataOrder;
  probeBatch: TokenBatch;
  evalTasks: string[];
}

/** Load the model (unless the sweep lent one), inject LoRA, create the optimizer. */
async function setUpModel(
  cfg: RunConfig,
  ctx: RunContext,
  live: Live,
  summary: RunSummary,
  backend: BackendInfo,
  log: (m: string) => void,
): Promise<void> {
  live.model = ctx.model;
  if (!live.model) {
    log(`loading ${cfg.model}`);
    live.model = isRandomModelSpec(cfg.model)
      ? loadRandomModel(cfg.model, backend)
      : await loadModel(cfg.model, backend);
    live.ownModel = true;
  }
  const c = live.model.config;
  summary.model = { hiddenSize: c.hiddenSize, numLayers: c.numLayers, modelType: c.modelType };
  live.pairs = injectLora(live.model.decoder, cfg.lora, Rng.derive(cfg.seed, "lora-init"));
  if (ctx.initAdapter) loadAdapterInto(live.pairs, ctx.initAdapter);
  // A fingerprint of the initial adapter: two runs that claim the same seed must start from the same A0.
  summary.initAdapterSha256 = await adapterFingerprint(live.pairs);
  live.optimizer = createOptimizer(cfg.optimizer, live.pairs);
}

async function planData(cfg: RunConfig, model: LoadedModel): Promise<Plan> {
  const examples = await loadTrainPairs(cfg);
  const probeRng = Rng.derive(cfg.seed, "probe");
  const probePairs = probeRng
    .permutation(examples.length)
    .slice(0, cfg.stability.probeBatchSize)
    .map((i) => examples[i]!);
  return {
    examples,
    order: new DataOrder(examples.length, cfg.seed, cfg.train.shuffle),
    probeBatch: makeBatch(model.tokenizer, probePairs, cfg.train.maxSeqLen),
    evalTasks: cfg.eval.tasks.length ? cfg.eval.tasks : cfg.task ? defaultEvalTasks(cfg.task) : [],
  };
}

/** Same config hash → continue from the checkpoint (log lines past it are dropped). Returns the first step to run. */
function resumeIfCheckpointed(
  cfg: RunConfig,
  ctx: RunContext,
  files: RunFiles,
  live: Live,
  summary: RunSummary,
  log: (m: string) => void,
): number {
  let startStep = 0;
  const ck = readCheckpointState(files.checkpoint, log);
  if (ck && ck.configHash === ctx.configHash && ck.step <= cfg.train.steps) {
    const st = loadCheckpoint(files.checkpoint, live.pairs, live.optimizer!);
    startStep = st.step;
    // Counted from the checkpoint: an interrupt before the first resumed step must re-save step startStep, not 0.
    summary.stepsCompleted = startStep;
    summary.trainSeconds = st.trainSeconds;
    log(`resuming from step ${startStep}`);
  }
  truncateJsonl(files.metrics, startStep);
  truncateJsonl(files.eval, startStep);
  return startStep;
}

/** Evaluate on every evaluation task; the final evaluation also fills summary.final and samples.jsonl. */
async function runEval(
  cfg: RunConfig,
  ctx: RunContext,
  model: LoadedModel,
  plan: Plan,
  files: RunFiles,
  summary: RunSummary,
  step: number,
  final: boolean,
  log: (m: string) => void,
): Promise<void> {
  const partial = (task: string) => path.join(ctx.dir, `eval-partial--${task}.jsonl`);
  const t0 = performance.now();
  const lm = createLanguageModel(model.decoder, model.tokenizer, { batchSize: cfg.eval.batchSize });
  const samples: string[] = [];
  for (const task of plan.evalTasks) {
    const r = await evaluateTask(lm, task, {
      // The evaluation subsample is the same for every seed (seed 0), so paired comparisons score the same docs.
      dataDir: cfg.dataDir,
      limit: cfg.eval.limit,
      seed: 0,
      batchSize: cfg.eval.batchSize,
      ...(cfg.eval.split ? { split: cfg.eval.split as SplitName } : {}),
      ...(cfg.eval.numFewshot !== null ? { numFewshot: cfg.eval.numFewshot } : {}),
      ...(cfg.eval.maxNewTokens !== null ? { maxNewTokens: cfg.eval.maxNewTokens } : {}),
      // The final evaluation resumes per document after an interrupt or a crash (src/eval/evaluate.ts).
      ...(final ? { resume: { file: partial(task), key: `${ctx.configHash}@${step}` }, signal: ctx.signal } : {}),
    });
    const rec: EvalRecord = {
      step,
      task,
      split: r.split,
      n: r.n,
      metrics: r.metrics,
      seconds: (performance.now() - t0) / 1000,
      final,
    };
    appendJsonl(files.eval, rec);
    if (final) {
      summary.final[task] = r.metrics;
      samples.push(...r.samples.map((s) => JSON.stringify(s) + "\n"));
    }
    const shown = Object.entries(r.metrics)
      .filter(([k]) => !k.includes("stderr"))
      .map(([k, v]) => `${k}=${v.toFixed(4)}`);
    log(`eval ${task} @${step}: ${shown.join(" ")}`);
  }
  if (final) {
    writeFileAtomic(files.samples, samples.join(""));
    for (const t of plan.evalTasks) fs.rmSync(partial(t), { force: true });
  }
  summary.evalSeconds += (performance.now() - t0) / 1000;
}

/** Per-module signals for metrics.jsonl, with Stable-LoRA's stop steps (also collected into `stopSteps`). */
function moduleRecords(r: StepResult, stopSteps: Record<string, number | null>): MetricsRecord["modules"] {
  return Object.fromEntries(
    Object.entries(r.signals.modules).map(([m, s]) => {
      const stop = r.stats?.modules?.[m]?.stopStep;
      if (stop !== undefined) stopSteps[m] = stop;
      return [m, { ...s, normRatio: jsonSafe(s.normRatio), ...(stop !== undefined ? { stopStep: stop } : {}) }];
    }),
  );
}

function metricsRecord(
  step: number,
  lr: number,
  batches: readonly TokenBatch[],
  seconds: number,
  r: StepResult,
  modules: MetricsRecord["modules"],
): MetricsRecord {
  const tokens = batches.reduce((s, b) => s + b.B * b.T, 0);
  const { signals } = r;
  return {
    step,
    loss: r.loss,
    lr,
    tokens,
    lossTokens: batches.reduce((s, b) => s + b.tokens, 0),
    tokensPerSec: tokens / seconds,
    stepSeconds: seconds,
    gradNorm: signals.gradNorm,
    gradNormA: signals.gradNormA,
    gradNormB: signals.gradNormB,
    normA: signals.normA,
    normB: signals.normB,
    nonFinite: signals.nonFinite,
    numTensors: tf.memory().numTensors,
    optim: { ...(r.stats?.scalars ?? {}) },
    modules,
  };
}

/** Stop steps so far, from the log kept up to the checkpoint (a resume at the last step runs no step to report them). */
function loggedStopSteps(metricsFile: string): Record<string, number | null> {
  const stopSteps: Record<string, number | null> = {};
  for (const [m, s] of Object.entries(readJsonl<MetricsRecord>(metricsFile).rows.at(-1)?.modules ?? {}))
    if (s.stopStep !== undefined) stopSteps[m] = s.stopStep;
  return stopSteps;
}

/** The training loop from startStep; returns "running" when every step ran, else "interrupted" or "diverged". */
async function trainLoop(
  cfg: RunConfig,
  ctx: RunContext,
  live: Live,
  plan: Plan,
  files: RunFiles,
  summary: RunSummary,
  startStep: number,
  stopSteps: Record<string, number | null>,
  stepTimes: number[],
  log: (m: string) => void,
): Promise<RunStatus> {
  const { decoder, tokenizer } = live.model!;
  const optimizer = live.optimizer!;
  const save = (step: number) =>
    saveCheckpoint(files.checkpoint, live.pairs, optimizer, {
      step,
      configHash: ctx.configHash,
      trainSeconds: summary.trainSeconds,
    });
  for (let step = startStep; step < cfg.train.steps; step++) {
    // Yield to the event loop once per step, so a SIGINT handler (which aborts ctx.signal) runs between steps.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (ctx.signal?.aborted) return "interrupted";
    const t0 = performance.now();
    const examples = plan.order.batch(step, cfg.train.batchSize).map((i) => plan.examples[i]!);
    const batches = microBatches(examples, cfg.train.microBatchSize ?? null).map((mb) =>
      makeBatch(tokenizer, mb, cfg.train.maxSeqLen),
    );
    const lr = lrAt(step, {
      lr: cfg.optimizer.lr,
      warmupSteps: cfg.train.warmupSteps,
      schedule: cfg.train.schedule,
      totalSteps: cfg.train.steps,
    });
    const probe =
      cfg.stability.probeEvery > 0 && (step + 1) % cfg.stability.probeEvery === 0
        ? captureProbe(decoder, live.pairs, plan.probeBatch)
        : undefined;
    let r: StepResult;
    try {
      r = await trainStep(decoder, live.pairs, optimizer, batches, {
        lr,
        maxGradNorm: cfg.train.maxGradNorm,
        dropoutSeed: cfg.seed * 1_000_003 + step,
      });
    } catch (e) {
      if (probe) await finishProbe(probe, live.pairs, false);
      throw e;
    }
    const delta = probe ? await finishProbe(probe, live.pairs, !r.diverged) : undefined;
    assertBackendAlive();
    const seconds = (performance.now() - t0) / 1000;
    if (r.diverged) {
      summary.divergedAtStep = step + 1;
      log(`diverged at step ${step + 1}: loss=${r.loss}, non-finite gradient tensors=${r.signals.nonFinite}`);
      return "diverged";
    }
    stepTimes.push(seconds);
    summary.trainSeconds += seconds;
    summary.stepsCompleted = step + 1;
    const modules = moduleRecords(r, stopSteps);
    if ((step + 1) % cfg.train.logEvery === 0 || step + 1 === cfg.train.steps || delta) {
      appendJsonl(files.metrics, {
        ...metricsRecord(step + 1, lr, batches, seconds, r, modules),
        ...(delta ? { delta } : {}),
      });
    }
    const tokens = batches.reduce((s, b) => s + b.B * b.T, 0);
    ctx.onStep?.({
      step: step + 1,
      totalSteps: cfg.train.steps,
      loss: r.loss,
      tokensPerSec: tokens / seconds,
      elapsedSeconds: summary.trainSeconds,
    });
    // Periodic eval before the checkpoint: a crash between the two then reruns the eval on resume (its line is
    // past the previous checkpoint and dropped) instead of losing it.
    const last = step + 1 === cfg.train.steps;
    if (cfg.eval.everySteps > 0 && (step + 1) % cfg.eval.everySteps === 0 && !last && plan.evalTasks.length) {
      await runEval(cfg, ctx, live.model!, plan, files, summary, step + 1, false, log);
    }
    if (cfg.train.checkpointEvery > 0 && (step + 1) % cfg.train.checkpointEvery === 0 && !last) await save(step + 1);
  }
  return "running";
}

/** After the loop: checkpoint (interrupted) or adapter + checkpoint + final evaluation; then the stability summary. */
async function finishRun(
  cfg: RunConfig,
  ctx: RunContext,
  live: Live,
  plan: Plan,
  files: RunFiles,
  summary: RunSummary,
  status: RunStatus,
  stopSteps: Record<string, number | null>,
  log: (m: string) => void,
): Promise<RunStatus> {
  const state = { step: summary.stepsCompleted, configHash: ctx.configHash, trainSeconds: summary.trainSeconds };
  if (status === "interrupted") {
    await saveCheckpoint(files.checkpoint, live.pairs, live.optimizer!, state);
    log(`interrupted at step ${summary.stepsCompleted}; checkpoint written, rerun the same command to resume`);
  } else {
    await saveAdapter(live.pairs, files.adapter, { baseModel: cfg.model, lora: cfg.lora });
    if (status === "running") {
      await saveCheckpoint(files.checkpoint, live.pairs, live.optimizer!, state);
      if (plan.evalTasks.length)
        await runEval(cfg, ctx, live.model!, plan, files, summary, summary.stepsCompleted, true, log);
      status = "success";
    }
  }
  const ratios = await readValues(() =>
    tf.stack(live.pairs.map((p) => tf.norm(p.A).div(p.inDim).div(tf.norm(p.B).div(p.outDim)))),
  );
  const deltaW: Record<string, DeltaWSpectrum> = {};
  for (const p of live.pairs) deltaW[p.module] = await deltaWSpectrum(p);
  summary.stability = {
    stopSteps: Object.keys(stopSteps).length ? stopSteps : undefined,
    finalNormRatio: Object.fromEntries(live.pairs.map((p, i) => [p.module, jsonSafe(ratios[i]!)])),
    deltaW,
  };
  return status;
}

/** Free what the run made: the optimizer, and the model (own) or its LoRA (borrowed from a sweep). */
function tearDown(live: Live): void {
  live.optimizer?.dispose();
  if (!live.model) return;
  // The decoder owns attached pairs: a borrowed model gets its LoRA removed, our own is disposed whole.
  if (live.ownModel) live.model.decoder.dispose();
  else disposePairs(live.model.decoder.removeLora());
}

export async function runTraining(cfg: RunConfig, ctx: RunContext): Promise<RunSummary> {
  const log = ctx.log ?? (() => {});
  const files = runFiles(ctx.dir);
  fs.mkdirSync(ctx.dir, { recursive: true });
  if (!fs.existsSync(files.config)) writeJsonAtomic(files.config, cfg);
  const backend = await initBackend(cfg.backend);
  const summary = newSummary(ctx, backend);
  const baseTensors = tf.memory().numTensors;
  const live: Live = { ownModel: false, pairs: [] };
  const stepTimes: number[] = [];
  let status: RunStatus = "running";
  try {
    await setUpModel(cfg, ctx, live, summary, backend, log);
    const plan = await planData(cfg, live.model!);
    const startStep = resumeIfCheckpointed(cfg, ctx, files, live, summary, log);
    const stopSteps = loggedStopSteps(files.metrics);
    status = await trainLoop(cfg, ctx, live, plan, files, summary, startStep, stopSteps, stepTimes, log);
    status = await finishRun(cfg, ctx, live, plan, files, summary, status, stopSteps, log);
  } catch (err) {
    let e = err;
    try {
      assertBackendAlive(); // a lost device explains any error it caused (often one with an empty message)
    } catch (lost) {
      e = lost;
    }
    status = ctx.signal?.aborted ? "interrupted" : "failed";
    summary.error = e instanceof Error ? e.message || `${e.name} (no message)` : String(e);
    log(`run failed: ${summary.error}`);
  } finally {
    tearDown(live);
  }
  summary.status = status;
  summary.finishedAt = new Date().toISOString();
  if (stepTimes.length)
    summary.medianStepSeconds = [...stepTimes].sort((a, b) => a - b)[Math.floor(stepTimes.length / 2)]!;
  summary.peakRssMB = peakRssMB();
  summary.leakedTensors = live.ownModel ? tf.memory().numTensors - baseTensors : undefined;
  writeJsonAtomic(files.summary, summary);
  return summary;
}
