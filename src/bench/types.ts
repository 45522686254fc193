// The records `run.ts bench` passes around: what one case's child process prints (CaseResult, one JSON line on
// stdout), what the PyTorch peer prints (PeerResult, tools/bench/torch_peer.py), and the rows of bench.json.
import type { CaseKind } from "./cases.ts";

export type CaseStatus = "ok" | "skipped" | "failed" | "out-of-memory";

/** One optimizer's cost against AdamW on the same model and batch (the paper's overhead table). */
export interface OptimizerOverhead {
  optimizer: string;
  /** Median full training-step time with this optimizer (interleaved with the others). */
  stepSeconds: number;
  /** (stepSeconds / AdamW's) − 1, in percent. */
  overheadPct: number;
  /** Median time of optimizer.step alone on fixed gradients (src/optim/bench.ts). */
  optimizerStepMs: number;
  /** optimizerStepMs − AdamW's, as a percentage of AdamW's full step: the noise-free overhead estimate. */
  optimizerOnlyOverheadPct: number;
  /** The paper's reported overhead over AdamW, where it gives one. */
  paperOverheadPct: number | null;
}

export interface CaseResult {
  name: string;
  kind: CaseKind;
  status: CaseStatus;
  /** e.g. "wasm (simd)". */
  backend: string;
  error?: string;
  note?: string;
  batch?: number;
  seqLen?: number;
  tokensPerStep?: number;
  stepSeconds?: number;
  stepSecondsAll?: number[];
  forwardSeconds?: number;
  oursTokensPerSec?: number;
  forwardTokensPerSec?: number;
  /** Model FLOPs of one LoRA step (src/bench/flops.ts) and the achieved rate. */
  gflopPerStep?: number;
  gflops?: number;
  firstLoss?: number;
  lastLoss?: number;
  peakRssMB: number;
  /** fp32 weights as the decoder holds them and an activation estimate. */
  weightsMB?: number;
  activationsMB?: number;
  /** peakRssMB / (weightsMB + activationsMB). */
  rssRatio?: number;
  /** webgpu: the most GPU memory tfjs held during the case (buffers in use + its pool), where the backend reports it. */
  peakGpuMB?: number;
  setupSeconds?: number;
  /** From one extra counted step (src/bench/kernel-census.ts): tfjs kernel dispatches, seconds in matrix products
   * (the native sgemm, or BatchMatMul kernels), and the rest of that step's wall time. */
  launchesPerStep?: number;
  matmulSeconds?: number;
  outsideMatmulSeconds?: number;
  /** Kind-specific numbers (eval throughput, logging overhead). */
  metrics?: Record<string, number | string | boolean>;
  optimizers?: OptimizerOverhead[];
}

export interface PeerResult {
  stepSeconds: number;
  forwardSeconds: number;
  tokensPerSec: number;
  peakRssMB: number;
  torchVersion: string;
  threads: { torch: number; OPENBLAS_NUM_THREADS: string };
  blas: string;
  note: string;
  firstLoss?: number;
}

/** One row of bench.json. */
export interface BenchRow extends CaseResult {
  pytorchTokensPerSec?: number;
  pytorchStepSeconds?: number;
  pytorchForwardSeconds?: number;
  /** ours / PyTorch throughput (higher is better; 1 = parity). */
  ratio?: number;
  /** gflops / the machine's measured fp32 peak (OpenBLAS sgemm, all cores). */
  mfu?: number;
  pytorch?: PeerResult | { status: "skipped" | "failed"; reason: string };
  /** 1-minute load average before and after our part of the case: above the core count, other work competed. */
  loadAverage?: [number, number];
}

export interface BenchMachine {
  date: string;
  hostname: string;
  cpuModel: string;
  cpus: number;
  memGB: number;
  node: string;
  /** Peak fp32 GFLOP/s from tools/bench/peak_flops.py (OpenBLAS sgemm), when torch is present. */
  peakGflops?: { allCores: number; oneCore: number; blas: string };
  python?: string;
}
