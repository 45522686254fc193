// What one bench case measures, by kind, in the current process (src/bench/run-case.ts runs one per child process):
// train (step + forward time, tokens/s, GFLOP/s, peak RSS against weights + activations), optimizers (full step per
// optimizer, interleaved round-robin so drifts in machine speed hit all alike, plus optimizer.step alone),
// signals (step with per-step stability signals on vs off, interleaved), eval-score and eval-generate.
import * as tf from "@tensorflow/tfjs";
import { LORA_TARGETS } from "../config.ts";
import { createCharTokenizer } from "../models/char-tokenizer.ts";
import { generateGreedy, generateGreedyNoCache } from "../models/generate.ts";
import { readModelConfig, type ModelConfig } from "../models/model-config.ts";
import type { LoglikelihoodRequest } from "../eval/types.ts";
import { benchOptimizerStep } from "../optim/bench.ts";
import { OPTIMIZER_NAMES, type OptimizerName } from "../optim/types.ts";
import { stepSignals } from "../stability/signals.ts";
import { Rng } from "../util/rng.ts";
import type { BenchCase } from "./cases.ts";
import { loraStepFlops } from "./flops.ts";
import { kernelCensus, type KernelCensus } from "./kernel-census.ts";
import { activationBytesEstimate, decoderWeightBytes } from "./memory.ts";
import {
  createBenchOptimizer,
  forwardLoss,
  randomBatch,
  setupModel,
  timed,
  timedAsync,
  trainStep,
} from "./train-step.ts";
import { median } from "../util/stats.ts";
import type { CaseResult, OptimizerOverhead } from "./types.ts";

/** The paper's optimizer overheads over AdamW (Stable-LoRA, Table 6). */
export const PAPER_OVERHEAD_PCT: Readonly<Record<OptimizerName, number | null>> = {
  adamw: 0,
  "lora-plus": 0.0,
  riemannian: 8.3,
  "lora-rite": 46,
  "stable-lora": 0.6,
};

export function modelConfigOf(c: BenchCase): ModelConfig {
  return c.model.kind === "random" ? c.model.config : readModelConfig(c.model.dir);
}

const peakRssMB = () => process.resourceUsage().maxRSS / 1024;
const log = (msg: string) => process.stderr.write(`  ${msg}\n`);

export interface MeasureOptions {
  batch: number;
  /** Overrides the case's timed step count. */
  steps?: number;
  backend: string;
}

export async function measureCase(c: BenchCase, o: MeasureOptions): Promise<CaseResult> {
  const steps = o.steps ?? c.steps;
  const head = {
    name: c.name,
    kind: c.kind,
    backend: o.backend,
    batch: o.batch,
    seqLen: c.seqLen,
    ...(c.note ? { note: c.note } : {}),
  };
  switch (c.kind) {
    case "train":
      return { ...head, ...(await measureTrain(c, o.batch, steps)) };
    case "optimizers":
      return { ...head, ...(await measureOptimizers(c, o.batch, steps)) };
    case "signals":
      return { ...head, ...(await measureSignals(c, o.batch, steps)) };
    case "eval-score":
      return { ...head, ...(await measureScore(c, o.batch, steps)) };
    case "eval-generate":
      return { ...head, ...(await measureGenerate(c, steps)) };
  }
}

type Body = Omit<CaseResult, "name" | "kind" | "backend">;

async function measureTrain(c: BenchCase, B: number, steps: number): Promise<Body> {
  const cfg = modelConfigOf(c);
  const T = c.seqLen;
  const [m, setupSeconds] = timed(() => setupModel(c.model, c));
  log(
    `model ready in ${setupSeconds.toFixed(1)} s (${(decoderWeightBytes(cfg) / 2 ** 20).toFixed(0)} MiB of fp32 weights)`,
  );
  try {
    const batch = randomBatch(cfg.vocabSize, B, T);
    const opt = createBenchOptimizer("adamw", m.pairs);
    const times: number[] = [];
    const losses: number[] = [];
    let peakGpu = gpuBytes();
    let census: KernelCensus | undefined;
    try {
      for (let i = 0; i < c.warmup + steps; i++) {
        const [loss, s] = await timedAsync(() => trainStep(m, batch, opt, { signals: true }));
        peakGpu = Math.max(peakGpu, gpuBytes());
        losses.push(loss);
        if (i >= c.warmup) times.push(s);
        log(
          `step ${i + 1}/${c.warmup + steps}: ${s.toFixed(3)} s, loss ${loss.toFixed(4)}${i < c.warmup ? " (warm-up)" : ""}`,
        );
      }
      // One more step with every kernel dispatch counted and the matmul time taken apart (src/bench/kernel-census.ts).
      census = (await kernelCensus(() => trainStep(m, batch, opt, { signals: true })))[1];
      log(
        `census step: ${census.launches} kernel launches, ${census.matmulMs.toFixed(1)} ms in matmuls, ${(census.wallMs - census.matmulMs).toFixed(1)} ms outside`,
      );
    } finally {
      opt.dispose();
    }
    await forwardLoss(m, batch);
    const fwd: number[] = [];
    for (let i = 0; i < Math.max(1, steps); i++) fwd.push((await timedAsync(() => forwardLoss(m, batch)))[1]);
    const flops = loraStepFlops(cfg, c, B, T);
    const stepSeconds = median(times);
    const weightsMB = decoderWeightBytes(cfg) / 2 ** 20;
    const activationsMB = activationBytesEstimate(cfg, B, T, c.r, c.targets.length) / 2 ** 20;
    const rss = peakRssMB();
    return {
      tokensPerStep: B * T,
      stepSeconds,
      stepSecondsAll: times,
      forwardSeconds: median(fwd),
      oursTokensPerSec: (B * T) / stepSeconds,
      forwardTokensPerSec: (B * T) / median(fwd),
      gflopPerStep: flops.step / 1e9,
      gflops: flops.step / 1e9 / stepSeconds,
      firstLoss: losses[0],
      lastLoss: losses[losses.length - 1],
      peakRssMB: rss,
      weightsMB,
      activationsMB,
      rssRatio: rss / (weightsMB + activationsMB),
      ...(peakGpu > 0 ? { peakGpuMB: peakGpu / 2 ** 20 } : {}),
      setupSeconds,
      ...(census
        ? {
            launchesPerStep: census.launches,
            matmulSeconds: census.matmulMs / 1000,
            outsideMatmulSeconds: (census.wallMs - census.matmulMs) / 1000,
          }
        : {}),
      status: "ok",
    };
  } finally {
    m.dispose();
  }
}

async function measureOptimizers(c: BenchCase, B: number, rounds: number): Promise<Body> {
  const cfg = modelConfigOf(c);
  const m = setupModel(c.model, c);
  try {
    const batch = randomBatch(cfg.vocabSize, B, c.seqLen);
    const names = [...OPTIMIZER_NAMES];
    const opts = names.map((n) => createBenchOptimizer(n, m.pairs));
    const times = new Map<OptimizerName, number[]>(names.map((n) => [n, []]));
    try {
      // Round-robin, each round in a rotated order, so slow phases of a noisy machine hit every optimizer alike.
      for (let round = 0; round < c.warmup + rounds; round++) {
        for (let j = 0; j < names.length; j++) {
          const k = (j + round) % names.length;
          const s = (await timedAsync(() => trainStep(m, batch, opts[k]!, { signals: true })))[1];
          if (round >= c.warmup) times.get(names[k]!)!.push(s);
        }
        log(`round ${round + 1}/${c.warmup + rounds}${round < c.warmup ? " (warm-up)" : ""}`);
      }
    } finally {
      for (const o of opts) o.dispose();
    }
    const alone = new Map<OptimizerName, number>();
    for (const n of names) alone.set(n, (await benchOptimizerStep(n, m.pairs, 10)).medianMs);
    const adamStep = median(times.get("adamw")!);
    const adamAlone = alone.get("adamw")!;
    const optimizers: OptimizerOverhead[] = names.map((n) => {
      const step = median(times.get(n)!);
      return {
        optimizer: n,
        stepSeconds: step,
        overheadPct: 100 * (step / adamStep - 1),
        optimizerStepMs: alone.get(n)!,
        optimizerOnlyOverheadPct: (100 * (alone.get(n)! - adamAlone)) / (adamStep * 1000),
        paperOverheadPct: PAPER_OVERHEAD_PCT[n],
      };
    });
    return { tokensPerStep: B * c.seqLen, stepSeconds: adamStep, optimizers, peakRssMB: peakRssMB(), status: "ok" };
  } finally {
    m.dispose();
  }
}

async function measureSignals(c: BenchCase, B: number, steps: number): Promise<Body> {
  const cfg = modelConfigOf(c);
  const m = setupModel(c.model, c);
  try {
    const batch = randomBatch(cfg.vocabSize, B, c.seqLen);
    const opt = createBenchOptimizer("adamw", m.pairs);
    const on: number[] = [];
    const off: number[] = [];
    try {
      for (let i = 0; i < c.warmup + steps; i++) {
        // alternate which arm goes first
        const order = i % 2 === 0 ? [true, false] : [false, true];
        for (const signals of order) {
          const s = (await timedAsync(() => trainStep(m, batch, opt, { signals })))[1];
          if (i >= c.warmup) (signals ? on : off).push(s);
        }
        log(`pair ${i + 1}/${c.warmup + steps}${i < c.warmup ? " (warm-up)" : ""}`);
      }
    } finally {
      opt.dispose();
    }
    // The signals alone on fixed gradients: the same cost without the step-to-step noise.
    const grads: tf.NamedTensorMap = {};
    m.pairs.forEach((p, i) => {
      grads[p.A.name] = tf.randomNormal(p.A.shape, 0, 1e-3, "float32", 2 * i);
      grads[p.B.name] = tf.randomNormal(p.B.shape, 0, 1e-3, "float32", 2 * i + 1);
    });
    const alone: number[] = [];
    for (let i = 0; i < 12; i++) {
      const s = (await timedAsync(() => stepSignals(m.pairs, grads)))[1];
      if (i >= 2) alone.push(s);
    }
    tf.dispose(Object.values(grads));
    const offS = median(off),
      onS = median(on);
    return {
      tokensPerStep: B * c.seqLen,
      stepSeconds: onS,
      peakRssMB: peakRssMB(),
      status: "ok",
      metrics: {
        stepSecondsSignalsOn: onS,
        stepSecondsSignalsOff: offS,
        overheadPct: 100 * (onS / offS - 1),
        signalsAloneMs: 1000 * median(alone),
        signalsAloneOverheadPct: (100 * median(alone)) / offS,
        modules: m.pairs.length,
      },
    };
  } finally {
    m.dispose();
  }
}

/** Random lm-eval-style requests from the char tokenizer's alphabet: a shared context, `choices` continuations. */
function randomRequests(n: number, contextChars: number, contChars: number, seed = 0): LoglikelihoodRequest[] {
  const rng = Rng.derive(seed, "bench-requests");
  const alpha = "abcdefghijklmnopqrstuvwxyz";
  const text = (k: number) => Array.from({ length: k }, () => alpha[rng.int(alpha.length)]).join("");
  const out: LoglikelihoodRequest[] = [];
  for (let q = 0; q < n / 4; q++) {
    const context = text(contextChars);
    for (let ch = 0; ch < 4; ch++) out.push({ context, continuation: " " + text(contChars - 1) });
  }
  return out;
}

async function measureScore(c: BenchCase, B: number, steps: number): Promise<Body> {
  const m = setupModel(c.model, { ...c, targets: LORA_TARGETS });
  try {
    const tok = createCharTokenizer();
    if (m.decoder.config.vocabSize < tok.vocabSize)
      throw new Error(`eval-score: model vocab ${m.decoder.config.vocabSize} < char tokenizer's ${tok.vocabSize}`);
    const { createLanguageModel } = await import("../eval/model-lm.ts"); // loaded only by this case
    const lm = createLanguageModel(m.decoder, tok, { batchSize: B });
    const n = 4 * B * 2; // 8 questions × 4 choices per repetition at B = 8
    const reqs = randomRequests(n, c.seqLen - 16, 16);
    const times: number[] = [];
    for (let i = 0; i < c.warmup + steps; i++) {
      const s = (await timedAsync(() => lm.loglikelihood(reqs, { batchSize: B })))[1];
      if (i >= c.warmup) times.push(s);
    }
    const s = median(times);
    return {
      peakRssMB: peakRssMB(),
      status: "ok",
      metrics: {
        choices: n,
        choicesPerSec: n / s,
        tokensPerChoice: c.seqLen,
        scoredTokensPerSec: (n * c.seqLen) / s,
        batchSize: B,
        adapter: "LoRA r=8 on all seven projections",
      },
    };
  } finally {
    m.dispose();
  }
}

async function measureGenerate(c: BenchCase, steps: number): Promise<Body> {
  const m = setupModel(c.model, { ...c, targets: [] });
  try {
    const cfg = m.decoder.config;
    const rng = Rng.derive(0, "bench-prompt");
    const prompt = Array.from({ length: c.promptTokens ?? 16 }, () => rng.int(cfg.vocabSize));
    const maxNew = c.seqLen;
    await generateGreedy(m.decoder, prompt, { maxNewTokens: 4 }); // warm-up (XNNPACK operator creation)
    const kv: number[] = [];
    const full: number[] = [];
    let same = true;
    for (let i = 0; i < Math.max(1, steps); i++) {
      const [a, sa] = await timedAsync(() => generateGreedy(m.decoder, prompt, { maxNewTokens: maxNew }));
      const [b, sb] = await timedAsync(() => generateGreedyNoCache(m.decoder, prompt, maxNew));
      kv.push(sa);
      full.push(sb);
      same &&= a.ids.length === b.ids.length && a.ids.every((x, j) => x === b.ids[j]);
    }
    const kvS = median(kv),
      fullS = median(full);
    return {
      peakRssMB: peakRssMB(),
      status: "ok",
      metrics: {
        promptTokens: prompt.length,
        newTokens: maxNew,
        kvCacheTokensPerSec: maxNew / kvS,
        recomputeTokensPerSec: maxNew / fullS,
        kvSpeedup: fullS / kvS,
        sameTokens: same,
      },
    };
  } finally {
    m.dispose();
  }
}

/** GPU bytes tfjs holds (webgpu: buffers in use + its reuse pool; 0 where the backend reports none). */
function gpuBytes(): number {
  const m = tf.memory() as { numBytesAllocatedInGPU?: number; numBytesInGPU?: number };
  return m.numBytesAllocatedInGPU ?? m.numBytesInGPU ?? 0;
}
