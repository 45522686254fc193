// The Markdown report next to bench.json: machine and backend, then one table per kind of case — training
// throughput with the PyTorch ratio, optimizer overheads next to the paper's, logging overhead, eval throughput,
// memory. Numbers only from the rows; nothing here is measured.
import type { BenchMachine, BenchRow } from "./types.ts";

const f = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(d));
const pct = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "—" : `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;

function table(head: string[], rows: string[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** bench.md: the machine, then one section per kind of case. */
export function renderBenchMarkdown(rows: readonly BenchRow[], m: BenchMachine): string {
  const train = rows.filter((r) => r.kind === "train");
  return [
    ...header(rows, m),
    ...trainSection(train),
    ...memorySection(train),
    ...optimizerSections(rows),
    ...signalsSections(rows),
    ...evalSection(rows),
  ].join("\n");
}

function header(rows: readonly BenchRow[], m: BenchMachine): string[] {
  const out: string[] = [];
  const backends = [...new Set(rows.filter((r) => r.status === "ok").map((r) => r.backend))].join(", ") || "—";
  out.push(`# lora-lab bench — ${m.date.slice(0, 10)}`, "");
  out.push(
    `Machine: ${m.cpuModel}, ${m.cpus} cores, ${m.memGB} GB, ${m.hostname}; Node ${m.node}; backend: ${backends}.`,
  );
  if (m.peakGflops)
    out.push(
      `fp32 matmul peak (OpenBLAS sgemm 2048³ via torch): ${f(m.peakGflops.allCores, 1)} GFLOP/s all cores, ${f(m.peakGflops.oneCore, 1)} one core (${m.peakGflops.blas}). MFU = our GFLOP/s ÷ the all-core peak.`,
    );
  const busy = rows.filter((r) => r.loadAverage && Math.max(...r.loadAverage) > m.cpus);
  if (busy.length)
    out.push(
      `**Warning: the machine was busy** (1-min load average above ${m.cpus} cores) during ${busy.map((r) => `${r.name} (${r.loadAverage!.map((x) => x.toFixed(1)).join("→")})`).join(", ")}: those timings are inflated and the ratios unreliable.`,
      "",
    );
  out.push(
    "FLOPs per step: src/bench/flops.ts (matmuls only; frozen weights need dX, not dW). Timings are medians after warm-up; read ±10–30 % into any single number on a shared VM — the ours/PyTorch ratio is the figure that counts.",
    "",
  );
  return out;
}

function trainSection(train: readonly BenchRow[]): string[] {
  const out: string[] = [];
  if (train.length) {
    out.push("## LoRA training step", "");
    out.push(
      table(
        [
          "case",
          "ours/torch",
          "status",
          "batch",
          "step s",
          "tok/s",
          "GFLOP/step",
          "GFLOP/s",
          "MFU",
          "torch step s",
          "torch tok/s",
          "launches/step",
          "matmul s",
          "outside matmul s",
          "fwd s",
          "torch fwd s",
          "peak RSS MB",
        ],
        train.map((r) => [
          r.name,
          r.ratio === undefined
            ? r.pytorch && "reason" in r.pytorch
              ? `— (${r.pytorch.status})`
              : "—"
            : `**${r.ratio.toFixed(3)}**`,
          r.status === "ok" ? "ok" : `${r.status}: ${r.error ?? ""}`,
          r.batch ? `${r.batch}×${r.seqLen}` : "—",
          f(r.stepSeconds, 3),
          f(r.oursTokensPerSec, 0),
          f(r.gflopPerStep, 2),
          f(r.gflops, 2),
          r.mfu === undefined ? "—" : `${(100 * r.mfu).toFixed(1)} %`,
          f(r.pytorchStepSeconds, 3),
          f(r.pytorchTokensPerSec, 0),
          r.launchesPerStep === undefined ? "—" : String(r.launchesPerStep),
          f(r.matmulSeconds, 3),
          f(r.outsideMatmulSeconds, 3),
          f(r.forwardSeconds, 3),
          f(r.pytorchForwardSeconds, 3),
          f(r.peakRssMB, 0),
        ]),
      ),
      "",
    );
    out.push(
      "launches/step: tfjs kernel dispatches in one training step; matmul s / outside matmul s: that step's time in matrix products (the native sgemm, inside fused kernels too) and everything else (src/bench/kernel-census.ts).",
      "",
    );
    const peer = train.find((r) => r.pytorch && "torchVersion" in r.pytorch)?.pytorch;
    if (peer && "torchVersion" in peer)
      out.push(`PyTorch peer: torch ${peer.torchVersion}, ${peer.blas}, ${peer.note}.`, "");
    const skipped = train.find((r) => r.pytorch && "reason" in r.pytorch)?.pytorch;
    if (skipped && "reason" in skipped) out.push(`PyTorch peer ${skipped.status}: ${skipped.reason}.`, "");
    for (const r of train.filter((x) => x.note)) out.push(`- ${r.name}: ${r.note}`);
    out.push("");
  }
  return out;
}

function memorySection(train: readonly BenchRow[]): string[] {
  const out: string[] = [];
  const mem = train.filter((r) => r.status === "ok" && r.rssRatio !== undefined);
  if (mem.length) {
    out.push(
      "## Memory",
      "",
      "Peak RSS against the fp32 weights the decoder holds plus an estimate of the activations kept for the backward (src/bench/memory.ts). Target ≤ 1.5× for the Qwen2-0.5B shape.",
      "",
    );
    out.push(
      table(
        ["case", "batch", "weights MB", "activations MB (est.)", "peak RSS MB", "ratio", "peak GPU MB"],
        mem.map((r) => [
          r.name,
          `${r.batch}×${r.seqLen}`,
          f(r.weightsMB, 0),
          f(r.activationsMB, 0),
          f(r.peakRssMB, 0),
          f(r.rssRatio, 2),
          f(r.peakGpuMB, 0),
        ]),
      ),
      "",
    );
  }
  return out;
}

function optimizerSections(rows: readonly BenchRow[]): string[] {
  const out: string[] = [];
  for (const r of rows.filter((x) => x.kind === "optimizers")) {
    out.push("## Optimizer overhead vs AdamW", "");
    if (r.status !== "ok" || !r.optimizers) {
      out.push(`${r.status}: ${r.error ?? ""}`, "");
      continue;
    }
    out.push(
      `${r.batch}×${r.seqLen} tokens per step on ${r.note ?? "llama-4x256"}; full steps interleaved round-robin; "optimizer alone" is optimizer.step on fixed gradients, as a share of AdamW's full step.`,
      "",
    );
    out.push(
      table(
        ["optimizer", "step s", "overhead (full step)", "optimizer.step ms", "overhead (optimizer alone)", "paper"],
        r.optimizers.map((o) => [
          o.optimizer,
          f(o.stepSeconds, 3),
          pct(o.overheadPct),
          f(o.optimizerStepMs, 1),
          pct(o.optimizerOnlyOverheadPct),
          o.paperOverheadPct === null ? "—" : pct(o.paperOverheadPct),
        ]),
      ),
      "",
    );
  }
  return out;
}

function signalsSections(rows: readonly BenchRow[]): string[] {
  const out: string[] = [];
  for (const r of rows.filter((x) => x.kind === "signals")) {
    out.push("## Stability-logging overhead", "");
    if (r.status !== "ok" || !r.metrics) out.push(`${r.status}: ${r.error ?? ""}`, "");
    else {
      const x = r.metrics as Record<string, number>;
      out.push(
        `Per-step signals (src/stability/signals.ts stepSignals + clipping) on ${x.modules} modules: step ${f(x.stepSecondsSignalsOn, 3)} s on vs ${f(x.stepSecondsSignalsOff, 3)} s off (${pct(x.overheadPct)}, interleaved); the signals alone take ${f(x.signalsAloneMs, 1)} ms = ${pct(x.signalsAloneOverheadPct)} of a step. Target < 3 %.`,
        "",
      );
    }
  }
  return out;
}

function evalSection(rows: readonly BenchRow[]): string[] {
  const out: string[] = [];
  const ev = rows.filter((x) => x.kind === "eval-score" || x.kind === "eval-generate");
  if (ev.length) {
    out.push("## Evaluation throughput", "");
    for (const r of ev) {
      if (r.status !== "ok" || !r.metrics) {
        out.push(`- ${r.name}: ${r.status}: ${r.error ?? ""}`);
        continue;
      }
      const x = r.metrics as Record<string, number>;
      if (r.kind === "eval-score")
        out.push(
          `- ${r.name}: ${f(x.choicesPerSec, 1)} choices/s (loglikelihood, ${x.tokensPerChoice}-token requests, batch ${x.batchSize}, ${f(x.scoredTokensPerSec, 0)} tokens/s)`,
        );
      else
        out.push(
          `- ${r.name}: greedy ${x.newTokens} new tokens after a ${x.promptTokens}-token prompt: ${f(x.kvCacheTokensPerSec, 1)} tok/s with the KV cache, ${f(x.recomputeTokensPerSec, 1)} tok/s recomputing the prefix → **${f(x.kvSpeedup, 1)}×** (target ≥ 5×); same tokens: ${r.metrics.sameTokens}`,
        );
    }
    out.push("");
  }
  return out;
}
