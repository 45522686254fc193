// `sweep <experiment>`: run every missing cell of an experiment, then write its report. Finished cells (success or
// diverged) are skipped, a crashed or interrupted cell resumes from its checkpoint, `--force` reruns finished cells
// after moving their folder to results/<experiment>/.archive/ (a finished result is never deleted or overwritten).
// With no command at all, run.ts runs the `quickstart` experiment this way.
import * as fs from "node:fs";
import * as path from "node:path";
import cliProgress from "cli-progress";
import type { CommandModule } from "yargs";
import { parseOverrides, mergeConfig } from "../config.ts";
import { expandExperiment, cellStatus, isFinished, assertSameConfig, type Cell } from "../sweep.ts";
import { runDir } from "../results.ts";
import { runTraining } from "../train/recipe.ts";
import { loraStepFlops } from "../bench/flops.ts";
import { MODEL_PRESETS } from "../models/presets.ts";
import { readModelConfig, type ModelConfig } from "../models/model-config.ts";
import { isRandomModelSpec, parseRandomModelSpec } from "../models/random-model.ts";
import { asList } from "./common.ts";
import { installInterruptHandler, formatDuration, formatProgressLine } from "./progress.ts";

export interface SweepArgs {
  experiment: string; set?: string[]; only?: string[]; "dry-run"?: boolean; force?: boolean; report?: boolean;
  backend: string; "data-dir"?: string; "results-dir": string; "reports-dir"?: string; seed?: number;
}

export async function runSweep(a: SweepArgs): Promise<number> {
  const { getExperiment } = await import("../../experiments/index.ts");
  const exp = getExperiment(a.experiment);
  let overrides: Record<string, unknown> = parseOverrides(asList(a.set));
  if (a["data-dir"]) overrides = mergeConfig(overrides, { dataDir: a["data-dir"] });
  if (a.backend && a.backend !== "auto") overrides = mergeConfig(overrides, { backend: a.backend });
  if (a.seed !== undefined) overrides = mergeConfig(overrides, { seed: a.seed });
  const cells = expandExperiment(exp, { overrides, only: asList(a.only) });
  const resultsDir = path.resolve(a["results-dir"]);
  const status = new Map(cells.map((c) => [c.runId, cellStatus(resultsDir, exp.name, c)]));

  // A folder under a cell's id written by another config is refused before anything runs (finished cells too: the
  // report would otherwise show its numbers under this config's id). Nothing is moved or deleted.
  if (!a["dry-run"]) for (const c of cells) if (status.get(c.runId) !== "new") assertSameConfig(runDir(resultsDir, exp.name, c.runId), c);

  if (a["dry-run"]) {
    printPlan(exp.name, cells, status, exp.estimateSeconds ?? estimateFromFlops);
    return 0;
  }
  const todo = cells.filter((c) => a.force || !isFinished(status.get(c.runId)!));
  console.error(`${exp.name}: ${cells.length} cells, ${cells.length - todo.length} finished, ${todo.length} to run`);
  const { signal, dispose } = installInterruptHandler();
  const tty = Boolean(process.stderr.isTTY);
  const multi = tty ? new cliProgress.MultiBar({ clearOnComplete: false, hideCursor: true, format: "{bar} {value}/{total} {label}" }, cliProgress.Presets.shades_classic) : undefined;
  const overall = multi?.create(todo.length, 0, { label: "runs" });
  const line = multi?.create(1, 0, { label: "" });
  const log = (m: string) => (multi ? multi.log(`${m}\n`) : console.error(m));
  let failures = 0;
  let done = 0;
  for (const cell of todo) {
    if (signal.aborted) break;
    const dir = runDir(resultsDir, exp.name, cell.runId);
    const st = status.get(cell.runId)!;
    if (a.force && isFinished(st)) {
      const archive = path.join(resultsDir, exp.name, ".archive", `${cell.runId}-${new Date().toISOString().replace(/[:.]/g, "-")}`);
      fs.mkdirSync(path.dirname(archive), { recursive: true });
      fs.renameSync(dir, archive);
      log(`--force: moved the finished ${cell.runId} to ${path.relative(process.cwd(), archive)}`);
    }
    log(`[${done + 1}/${todo.length}] ${cell.runId}${st === "partial" || st === "interrupted" || st === "failed" ? ` (resuming, was ${st})` : ""}`);
    line?.setTotal(cell.config.train.steps);
    const summary = await runTraining(cell.config, {
      experiment: exp.name, runId: cell.runId, configHash: cell.configHash, dir, signal, log: (m) => log(`  ${m}`),
      onStep: (p) => {
        if (line) line.update(p.step, { label: formatProgressLine(cell.runId, p) });
        else if (p.step === p.totalSteps || p.step % Math.max(1, Math.floor(p.totalSteps / 10)) === 0) console.error(`  ${formatProgressLine(cell.runId, p)}`);
      },
    });
    done++;
    overall?.update(done);
    const finalTxt = Object.entries(summary.final).map(([t, m]) => `${t} ${fmtMain(m)}`).join(", ");
    log(`  → ${summary.status}${summary.error ? `: ${summary.error}` : ""} in ${formatDuration(summary.trainSeconds + summary.evalSeconds)}${finalTxt ? `; ${finalTxt}` : ""}`);
    if (summary.status === "failed") failures++;
  }
  multi?.stop();
  dispose();
  if (signal.aborted) console.error(`interrupted: rerun the same command to resume (finished cells are kept).`);
  if (a.report !== false) {
    try {
      const { renderReport } = await import("../report/render.ts");
      const r = await renderReport({ experiment: exp.name, resultsDir, reportsDir: path.resolve(a["reports-dir"] ?? "reports") });
      console.error(`report: ${path.relative(process.cwd(), r.dir)}/index.html${r.warnings.length ? ` (${r.warnings.length} warnings)` : ""}`);
    } catch (e) {
      console.error(`report could not be written: ${(e as Error).message} (the results are intact; run \`report ${exp.name}\`)`);
    }
  }
  return signal.aborted ? 130 : failures > 0 ? 1 : 0;
}

function fmtMain(m: Record<string, number>): string {
  const k = Object.keys(m).find((x) => x.startsWith("acc_norm,")) ?? Object.keys(m).find((x) => !x.includes("stderr"));
  return k ? `${k.split(",")[0]}=${(m[k]! * 100).toFixed(1)}%` : "";
}

/** Achieved LoRA-step throughput of the wasm backend on this 2-core machine (docs/engine.md §7: 7.7–8 GFLOP/s). */
const WASM_GFLOPS = 8;

/**
 * Training time of a cell from its FLOP count (src/bench/flops.ts) at WASM_GFLOPS, for batches of full length
 * (an upper bound); evaluation is not included. NaN when the model's shape is unknown (a hub id we have no preset for).
 */
function estimateFromFlops(cfg: Cell["config"]): number {
  let mc: ModelConfig | undefined = MODEL_PRESETS[cfg.model]?.config;
  try {
    mc ??= isRandomModelSpec(cfg.model) ? parseRandomModelSpec(cfg.model).config : fs.existsSync(path.join(cfg.model, "config.json")) ? readModelConfig(cfg.model) : undefined;
  } catch {
    mc = undefined;
  }
  if (!mc) return NaN;
  const f = loraStepFlops(mc, cfg.lora, cfg.train.batchSize, cfg.train.maxSeqLen);
  return (cfg.train.steps * f.step) / (WASM_GFLOPS * 1e9);
}

function printPlan(name: string, cells: Cell[], status: Map<string, string>, estimate?: (c: Cell["config"]) => number): void {
  const rows = cells.map((c, i) => {
    const est = estimate ? estimate(c.config) : NaN;
    return [String(i + 1), c.runId, status.get(c.runId)!, Number.isFinite(est) ? formatDuration(est) : "?"];
  });
  const w = [0, 1, 2, 3].map((j) => Math.max(...rows.map((r) => r[j]!.length), ["#", "run id", "status", "est."][j]!.length));
  const fmt = (r: string[]) => r.map((x, j) => x.padEnd(w[j]!)).join("  ");
  console.log(fmt(["#", "run id", "status", "est."]));
  for (const r of rows) console.log(fmt(r));
  const counts = new Map<string, number>();
  for (const s of status.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
  const todo = cells.filter((c) => !isFinished(status.get(c.runId) as never));
  const total = estimate ? todo.reduce((s, c) => s + estimate(c.config), 0) : NaN;
  console.log(`\n${name}: ${cells.length} cells (${[...counts].map(([k, v]) => `${v} ${k}`).join(", ")}); estimated ${formatDuration(total)} of training to run the rest on a 2-core CPU with the wasm backend (full-length batches; evaluation not included)`);
}

const sweepBuilder = (y: import("yargs").Argv) =>
  y
    .option("set", { type: "string", array: true, describe: "override for every cell, key=value (changes run ids)" })
    .option("only", { type: "string", array: true, describe: "run only cells with key=value[,value] (e.g. optimizer=stable-lora seed=0)" })
    .option("dry-run", { type: "boolean", describe: "print the cells, their status and estimated cost; run nothing" })
    .option("force", { type: "boolean", describe: "rerun finished cells (their old folders are archived, not deleted)" })
    .option("report", { type: "boolean", default: true, describe: "write reports/<experiment>/ at the end (--no-report to skip)" })
    .option("reports-dir", { type: "string", default: "reports" });

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: "sweep <experiment>",
  describe: "run every missing cell of an experiment (resumable), then write its report",
  builder: (y) => sweepBuilder(y).positional("experiment", { type: "string", demandOption: true }) as never,
  handler: async (a) => {
    process.exitCode = await runSweep(a);
  },
};

export const defaultCommand: CommandModule<object, SweepArgs> = {
  command: "$0",
  describe: "run the offline quickstart experiment (a few minutes on 2 CPU cores), then its report",
  builder: (y) => sweepBuilder(y) as never,
  handler: async (a) => {
    process.exitCode = await runSweep({ ...a, experiment: "quickstart" });
  },
};
