// One run, top to bottom (a recipe, not a Trainer class): write config.json → load the model and inject LoRA →
// create the optimizer → resume from a checkpoint if one exists → train, logging stability signals every step and
// δ1/δ2/δ3 on probe steps → save the PEFT adapter → final evaluation → ΔW spectrum → summary.json.
// A non-finite loss or gradient stops the run as "diverged"; an abort signal (SIGINT) checkpoints and stops it as
// "interrupted"; any error is recorded as "failed". summary.json is written in every case.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import type { RunConfig } from "../config.ts";
import { loadModel, type LoadedModel } from "../models/load.ts";
import { isRandomModelSpec, loadRandomModel } from "../models/random-model.ts";
import { createOptimizer } from "../optim/index.ts";
import { lrAt } from "../optim/schedule.ts";
import type { LoraPair } from "../lora/pair.ts";
import { injectLora, loadAdapterInto, saveAdapter, disposePairs } from "../lora/lora.ts";
import { makeBatch, continuationLoss } from "./loss.ts";
import { DataOrder } from "./data-order.ts";
import { saveCheckpoint, loadCheckpoint, readCheckpointState } from "./checkpoint.ts";
import { provenance, peakRssMB } from "./provenance.ts";
import { stepSignals, clipGradients, jsonSafe } from "../stability/signals.ts";
import { deltaTerms, type FactorSnapshot } from "../stability/delta.ts";
import { deltaWSpectrum } from "../stability/spectrum.ts";
import { readPairsJsonl } from "../tasks/pairs-file.ts";
import { loadTrainExamples, getTask, MERGED_QA, QA_TASK_NAMES, type SplitName } from "../tasks/index.ts";
import { evaluateTask } from "../eval/evaluate.ts";
import { createLanguageModel } from "../eval/model-lm.ts";
import type { LoglikelihoodRequest } from "../eval/types.ts";
import { Rng } from "../util/rng.ts";
import {
  RESULTS_SCHEMA_VERSION, RUN_FILES, appendJsonl, readJsonl, writeJsonAtomic, writeFileAtomic,
  type EvalRecord, type MetricsRecord, type RunStatus, type RunSummary,
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
  if (!cfg.task) throw new Error("nothing to train on: set task (e.g. --task arc_easy) or data (a JSONL file of {context, continuation})");
  return (await loadTrainExamples(cfg.task, cfg.dataDir, { limit: cfg.train.limit, seed: cfg.seed })).examples;
}

/** Evaluate where the training task has an evaluation split; merged QA → the five QA tasks; MetaMathQA → GSM8K. */
export function defaultEvalTasks(task: string): string[] {
  if (task === MERGED_QA) return [...QA_TASK_NAMES];
  if (task === "metamathqa") return ["gsm8k"];
  const spec = getTask(task);
  return spec.outputType === "train_only" || !spec.splits.eval ? [] : [task];
}

function adapterFingerprint(pairs: readonly LoraPair[]): string {
  const h = createHash("sha256");
  for (const p of pairs) for (const v of [p.A, p.B]) h.update(new Uint8Array((v.dataSync() as Float32Array).slice().buffer));
  return h.digest("hex").slice(0, 16);
}

function snapshot(pairs: readonly LoraPair[]): Map<string, FactorSnapshot> {
  return new Map(pairs.map((p) => [p.module, { A: tf.clone(p.A) as tf.Tensor2D, B: tf.clone(p.B) as tf.Tensor2D }]));
}

export async function runTraining(cfg: RunConfig, ctx: RunContext): Promise<RunSummary> {
  const log = ctx.log ?? (() => {});
  const files = {
    config: path.join(ctx.dir, RUN_FILES.config),
    metrics: path.join(ctx.dir, RUN_FILES.metrics),
    eval: path.join(ctx.dir, RUN_FILES.eval),
    samples: path.join(ctx.dir, RUN_FILES.samples),
    summary: path.join(ctx.dir, RUN_FILES.summary),
    adapter: path.join(ctx.dir, RUN_FILES.adapter),
    checkpoint: path.join(ctx.dir, RUN_FILES.checkpoint),
  };
  fs.mkdirSync(ctx.dir, { recursive: true });
  if (!fs.existsSync(files.config)) writeJsonAtomic(files.config, cfg);

  const backend = await initBackend(cfg.backend);
  const startedAt = new Date().toISOString();
  const summary: RunSummary = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    runId: ctx.runId,
    configHash: ctx.configHash,
    experiment: ctx.experiment,
    status: "running",
    startedAt,
    stepsCompleted: 0,
    trainSeconds: 0,
    evalSeconds: 0,
    final: {},
    provenance: provenance(backend),
  };
  const baseTensors = tf.memory().numTensors;
  let model: LoadedModel | undefined = ctx.model;
  let ownModel = false;
  let pairs: LoraPair[] = [];
  let optimizer: ReturnType<typeof createOptimizer> | undefined;
  const stepTimes: number[] = [];
  let status: RunStatus = "running";
  try {
    if (!model) {
      log(`loading ${cfg.model}`);
      model = isRandomModelSpec(cfg.model) ? loadRandomModel(cfg.model, backend) : await loadModel(cfg.model, { backend: cfg.backend });
      ownModel = true;
    }
    summary.model = { hiddenSize: model.config.hiddenSize, numLayers: model.config.numLayers, modelType: model.config.modelType };
    pairs = injectLora(model.decoder, cfg.lora, Rng.derive(cfg.seed, "lora-init"));
    if (ctx.initAdapter) loadAdapterInto(pairs, ctx.initAdapter);
    // A fingerprint of the initial adapter: two runs that claim the same seed must start from the same A0.
    summary.initAdapterSha256 = adapterFingerprint(pairs);
    optimizer = createOptimizer(cfg.optimizer, pairs);

    const examples = await loadTrainPairs(cfg);
    const order = new DataOrder(examples.length, cfg.seed, cfg.train.shuffle);
    const probeRng = Rng.derive(cfg.seed, "probe");
    const probePairs = probeRng.permutation(examples.length).slice(0, cfg.stability.probeBatchSize).map((i) => examples[i]!);
    const evalTasks = cfg.eval.tasks.length ? cfg.eval.tasks : cfg.task ? defaultEvalTasks(cfg.task) : [];

    // Resume: same config hash → continue from the checkpoint; log lines past it are dropped.
    let startStep = 0;
    const ck = readCheckpointState(files.checkpoint, log);
    if (ck && ck.configHash === ctx.configHash && ck.step <= cfg.train.steps) {
      const st = loadCheckpoint(files.checkpoint, pairs, optimizer);
      startStep = st.step;
      // Counted from the checkpoint: an interrupt before the first resumed step must re-save step startStep, not 0.
      summary.stepsCompleted = startStep;
      summary.trainSeconds = st.trainSeconds;
      log(`resuming from step ${startStep}`);
    }
    truncateJsonl(files.metrics, startStep);
    truncateJsonl(files.eval, startStep);

    const vars = pairs.flatMap((p) => [p.A, p.B]);
    // Stop steps so far, from the log kept up to the checkpoint (a resume at the last step runs no step to report them).
    const stopSteps: Record<string, number | null> = {};
    for (const [m, s] of Object.entries(readJsonl<MetricsRecord>(files.metrics).rows.at(-1)?.modules ?? {})) if (s.stopStep !== undefined) stopSteps[m] = s.stopStep;
    const runEval = async (step: number, final: boolean) => {
      const t0 = performance.now();
      const lm = createLanguageModel(model!.decoder, model!.tokenizer, { batchSize: cfg.eval.batchSize });
      const samples: string[] = [];
      for (const task of evalTasks) {
        const r = await evaluateTask(lm, task, {
          // The evaluation subsample is the same for every seed (seed 0), so paired comparisons score the same docs.
          dataDir: cfg.dataDir, limit: cfg.eval.limit, seed: 0, batchSize: cfg.eval.batchSize,
          ...(cfg.eval.split ? { split: cfg.eval.split as SplitName } : {}),
          ...(cfg.eval.numFewshot !== null ? { numFewshot: cfg.eval.numFewshot } : {}),
          ...(cfg.eval.maxNewTokens !== null ? { maxNewTokens: cfg.eval.maxNewTokens } : {}),
          // The final evaluation resumes per document after an interrupt or a crash (src/eval/evaluate.ts).
          ...(final ? { resume: { file: path.join(ctx.dir, `eval-partial--${task}.jsonl`), key: `${ctx.configHash}@${step}` }, signal: ctx.signal } : {}),
        });
        const rec: EvalRecord = { step, task, split: r.split, n: r.n, metrics: r.metrics, seconds: (performance.now() - t0) / 1000, final };
        appendJsonl(files.eval, rec);
        if (final) {
          summary.final[task] = r.metrics;
          samples.push(...r.samples.map((s) => JSON.stringify(s) + "\n"));
        }
        log(`eval ${task} @${step}: ${Object.entries(r.metrics).filter(([k]) => !k.includes("stderr")).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(" ")}`);
      }
      if (final) writeFileAtomic(files.samples, samples.join(""));
      if (final) for (const t of evalTasks) fs.rmSync(path.join(ctx.dir, `eval-partial--${t}.jsonl`), { force: true });
      summary.evalSeconds += (performance.now() - t0) / 1000;
    };

    for (let step = startStep; step < cfg.train.steps; step++) {
      // Yield to the event loop once per step: the training step is synchronous, so without this a SIGINT handler
      // (which aborts ctx.signal) would only run after the whole run had finished.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (ctx.signal?.aborted) {
        status = "interrupted";
        break;
      }
      const t0 = performance.now();
      const batch = makeBatch(model.tokenizer, order.batch(step, cfg.train.batchSize).map((i) => examples[i]!), cfg.train.maxSeqLen);
      const lr = lrAt(step, { lr: cfg.optimizer.lr, warmupSteps: cfg.train.warmupSteps, schedule: cfg.train.schedule, totalSteps: cfg.train.steps });
      const probe = cfg.stability.probeEvery > 0 && (step + 1) % cfg.stability.probeEvery === 0;
      // Probe: the module inputs Z on the fixed probe batch and the factors before the step.
      let Z: Map<string, tf.Tensor2D> | undefined;
      let before: Map<string, FactorSnapshot> | undefined;
      if (probe) {
        Z = new Map();
        const pb = makeBatch(model.tokenizer, probePairs, cfg.train.maxSeqLen);
        tf.tidy(() => {
          model!.decoder.hidden(pb.idsTensor(), { hooks: { onLoraInput: (m, x) => void Z!.set(m, tf.keep(x)) } });
        });
        before = snapshot(pairs);
      }
      let loss = NaN;
      let signals: ReturnType<typeof stepSignals> | undefined;
      let stats: ReturnType<NonNullable<typeof optimizer>["step"]> | undefined;
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => continuationLoss(model!.decoder, batch, { training: true, dropoutSeed: cfg.seed * 1_000_003 + step }), vars);
        loss = value.dataSync()[0]!;
        signals = stepSignals(pairs, grads);
        if (!Number.isFinite(loss) || signals.nonFinite > 0) return;
        const clipped = clipGradients(grads, signals.gradNorm, cfg.train.maxGradNorm);
        stats = optimizer!.step(clipped.grads, lr);
      });
      const stepSeconds = (performance.now() - t0) / 1000;
      if (!Number.isFinite(loss) || !signals || signals.nonFinite > 0) {
        status = "diverged";
        summary.divergedAtStep = step + 1;
        log(`diverged at step ${step + 1}: loss=${loss}, non-finite gradient tensors=${signals?.nonFinite ?? "?"}`);
        if (before) for (const s of before.values()) tf.dispose([s.A, s.B]);
        if (Z) tf.dispose([...Z.values()]);
        break;
      }
      let delta: MetricsRecord["delta"];
      if (probe && Z && before) {
        const after = new Map(pairs.map((p) => [p.module, { A: p.A as unknown as tf.Tensor2D, B: p.B as unknown as tf.Tensor2D }]));
        delta = deltaTerms(pairs.map((p) => ({ module: p.module, before: before!.get(p.module)!, after: after.get(p.module)!, Z: Z!.get(p.module)!, scaling: p.scaling })));
        for (const s of before.values()) tf.dispose([s.A, s.B]);
        tf.dispose([...Z.values()]);
      }
      stepTimes.push(stepSeconds);
      summary.trainSeconds += stepSeconds;
      summary.stepsCompleted = step + 1;
      const modules = Object.fromEntries(
        Object.entries(signals.modules).map(([m, s]) => {
          const stop = stats?.modules?.[m]?.stopStep;
          if (stop !== undefined) stopSteps[m] = stop;
          return [m, { ...s, normRatio: jsonSafe(s.normRatio), ...(stop !== undefined ? { stopStep: stop } : {}) }];
        }),
      );
      if ((step + 1) % cfg.train.logEvery === 0 || step + 1 === cfg.train.steps || delta) {
        const rec: MetricsRecord = {
          step: step + 1, loss, lr, tokens: batch.B * batch.T, lossTokens: batch.tokens, tokensPerSec: (batch.B * batch.T) / stepSeconds, stepSeconds,
          gradNorm: signals.gradNorm, gradNormA: signals.gradNormA, gradNormB: signals.gradNormB,
          normA: signals.normA, normB: signals.normB, nonFinite: signals.nonFinite, numTensors: tf.memory().numTensors,
          optim: { ...(stats?.scalars ?? {}) }, modules, ...(delta ? { delta } : {}),
        };
        appendJsonl(files.metrics, rec);
      }
      ctx.onStep?.({ step: step + 1, totalSteps: cfg.train.steps, loss, tokensPerSec: (batch.B * batch.T) / stepSeconds, elapsedSeconds: summary.trainSeconds });
      // Periodic eval before the checkpoint: a crash between the two then reruns the eval on resume (its line is
      // past the previous checkpoint and dropped) instead of losing it.
      if (cfg.eval.everySteps > 0 && (step + 1) % cfg.eval.everySteps === 0 && step + 1 < cfg.train.steps && evalTasks.length) {
        await runEval(step + 1, false);
      }
      const ckEvery = cfg.train.checkpointEvery;
      if (ckEvery > 0 && (step + 1) % ckEvery === 0 && step + 1 < cfg.train.steps) {
        saveCheckpoint(files.checkpoint, pairs, optimizer, { step: step + 1, configHash: ctx.configHash, trainSeconds: summary.trainSeconds });
      }
    }

    if (status === "interrupted") {
      saveCheckpoint(files.checkpoint, pairs, optimizer, { step: summary.stepsCompleted, configHash: ctx.configHash, trainSeconds: summary.trainSeconds });
      log(`interrupted at step ${summary.stepsCompleted}; checkpoint written, rerun the same command to resume`);
    } else {
      saveAdapter(pairs, files.adapter, { baseModel: cfg.model, lora: cfg.lora });
      if (status === "running") {
        saveCheckpoint(files.checkpoint, pairs, optimizer, { step: summary.stepsCompleted, configHash: ctx.configHash, trainSeconds: summary.trainSeconds });
        if (evalTasks.length) await runEval(summary.stepsCompleted, true);
        status = "success";
      }
    }
    summary.stability = {
      stopSteps: Object.keys(stopSteps).length ? stopSteps : undefined,
      finalNormRatio: Object.fromEntries(pairs.map((p) => [p.module, jsonSafe(tf.tidy(() => tf.norm(p.A).div(p.inDim).div(tf.norm(p.B).div(p.outDim)).dataSync()[0]!))])),
      deltaW: Object.fromEntries(pairs.map((p) => [p.module, deltaWSpectrum(p)])),
    };
  } catch (e) {
    status = ctx.signal?.aborted ? "interrupted" : "failed";
    summary.error = e instanceof Error ? e.message : String(e);
    log(`run failed: ${summary.error}`);
  } finally {
    optimizer?.dispose();
    if (model) {
      // The decoder owns attached pairs: a borrowed model gets its LoRA removed, our own is disposed whole.
      if (ownModel) model.decoder.dispose();
      else disposePairs(model.decoder.removeLora());
    }
  }
  summary.status = status;
  summary.finishedAt = new Date().toISOString();
  if (stepTimes.length) summary.medianStepSeconds = [...stepTimes].sort((a, b) => a - b)[Math.floor(stepTimes.length / 2)]!;
  summary.peakRssMB = peakRssMB();
  summary.leakedTensors = ownModel ? tf.memory().numTensors - baseTensors : undefined;
  writeJsonAtomic(files.summary, summary);
  return summary;
}
