// `sweep <experiment>`: run every missing cell of an experiment, then write its report. Finished cells (success or
// diverged) are skipped, a crashed or interrupted cell resumes from its checkpoint, `--force` reruns finished cells
// after moving their folder to results/<experiment>/.archive/ (a finished result is never deleted or overwritten).
// With no command at all, run.ts runs the `quickstart` experiment this way.
// Any number of such workers may share one results folder: each cell is claimed before it is trained (src/sweep/
// claims.ts), `--shard I/N` splits the cells statically, `--slurm`/`--k8s` launch workers on a cluster, `--status`
// shows where a sweep stands. docs/scale-out.md has the design.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import cliProgress from "cli-progress";
import type { CommandModule } from "yargs";
import { spawnSync } from "node:child_process";
import { parseOverrides, mergeConfig, ConfigError } from "../config.ts";
import {
  expandExperiment,
  cellStatus,
  findExperiment,
  isFinished,
  assertSameConfig,
  type Cell,
  type Experiment,
  type ExperimentRegistry,
} from "../sweep.ts";
import { RUN_FILES, removeTempFiles, runDir, writeFileAtomic, type RunSummary } from "../results.ts";
import { checkLease, DEFAULT_LEASE_SECONDS, tryClaim, type Claim } from "../sweep/claims.ts";
import { startHeartbeat } from "../sweep/heartbeat.ts";
import { selectShard, shardCells } from "../sweep/shard.ts";
import { longestFirst } from "../sweep/order.ts";
import { sweepStatus, formatStatus } from "../sweep/status.ts";
import { arrayScript, reportScript, slurmPaths, EXIT_CONFIG, EXIT_RETRY, type SlurmOptions } from "../sweep/slurm.ts";
import { indexedJobManifest } from "../sweep/k8s.ts";
import { findLegacyFolders, migrateFolder } from "../sweep/migrate.ts";
import { preflight } from "../sweep/preflight.ts";
import { workerSweepArgs, type WorkerArgs } from "../sweep/worker-command.ts";
import {
  AUTO_WORKERS_MAX,
  parseWorkers,
  startLocalWorkers,
  threadsPerWorker,
  type LocalWorkers,
} from "../sweep/local-workers.ts";
import { initBackend } from "../backend.ts";
import { runTraining } from "../train/recipe.ts";
import { loraStepFlops } from "../bench/flops.ts";
import { MODEL_PRESETS } from "../models/presets.ts";
import { readModelConfig, type ModelConfig } from "../models/model-config.ts";
import { isRandomModelSpec, parseRandomModelSpec } from "../models/random-model.ts";
import { asList } from "./common.ts";
import { installInterruptHandler, formatDuration, formatProgressLine } from "./progress.ts";

export interface SweepArgs {
  experiment: string;
  set?: string[];
  only?: string[];
  "dry-run"?: boolean;
  force?: boolean;
  report?: boolean;
  backend: string;
  "data-dir"?: string;
  "results-dir": string;
  "reports-dir"?: string;
  seed?: number;
  "migrate-ids"?: boolean;
  preflight?: boolean;
  shard?: string;
  shards?: number;
  lease?: number;
  wait?: boolean;
  status?: boolean;
  json?: boolean;
  workers?: string | number;
  slurm?: boolean;
  partition?: string;
  "gpus-per-task"?: number;
  "cpus-per-task"?: number;
  mem?: string;
  time?: string;
  "array-parallelism"?: number;
  "sbatch-arg"?: string[];
  print?: boolean;
  k8s?: boolean;
  image?: string;
  parallelism?: number;
  gpus?: number;
  "mount-path"?: string;
  "volume-claim"?: string;
}

/** What the arguments select: the experiment, this worker's cells (its shard) and where results go. */
interface SweepPlan {
  readonly exp: Experiment;
  readonly allCells: readonly Cell[];
  readonly cells: readonly Cell[];
  /** " (shard i/n …)" for messages, or "". */
  readonly shardTxt: string;
  readonly resultsDir: string;
  readonly leaseSeconds: number;
}

function planSweep(a: SweepArgs, experiments: ExperimentRegistry): SweepPlan {
  const exp = findExperiment(experiments, a.experiment);
  let overrides: Record<string, unknown> = parseOverrides(asList(a.set));
  if (a["data-dir"]) overrides = mergeConfig(overrides, { dataDir: a["data-dir"] });
  if (a.backend && a.backend !== "auto") overrides = mergeConfig(overrides, { backend: a.backend });
  if (a.seed !== undefined) overrides = mergeConfig(overrides, { seed: a.seed });
  const leaseSeconds = checkLease(a.lease ?? DEFAULT_LEASE_SECONDS);
  const allCells = expandExperiment(exp, { overrides, only: asList(a.only) });
  const shard = a.slurm || a.k8s ? null : selectShard({ shard: a.shard, shards: a.shards });
  const cells = shardCells(allCells, shard);
  const shardTxt = shard
    ? ` (shard ${shard.index}/${shard.count}${shard.source === "--shard" ? "" : ` from ${shard.source}`}: ` +
      `${cells.length} of ${allCells.length} cells)`
    : "";
  return { exp, allCells, cells, shardTxt, resultsDir: path.resolve(a["results-dir"]), leaseSeconds };
}

/** Run folders under run ids from before each optimizer had its own config: what to tell the user, or "". */
function legacyNote(experiment: string, legacy: ReturnType<typeof findLegacyFolders>): string {
  if (!legacy.length) return "";
  return (
    `${legacy.length} run folder(s) of this sweep are under run ids from before each optimizer had its own config ` +
    `(e.g. ${legacy[0]!.from} → ${legacy[0]!.cell.runId}). Run \`sweep ${experiment} --migrate-ids\` once (it renames ` +
    `them and updates the ids they record; nothing else changes), or move them aside to rerun those cells`
  );
}

export async function runSweep(a: SweepArgs, experiments: ExperimentRegistry): Promise<number> {
  const p = planSweep(a, experiments);
  const { exp, cells, resultsDir } = p;
  if (a.slurm || a.k8s) return launch(a, exp.name, p.allCells.length, p.leaseSeconds);

  const legacy = findLegacyFolders(resultsDir, exp.name, cells);
  if (a["migrate-ids"]) {
    for (const l of legacy) {
      migrateFolder(resultsDir, exp.name, l);
      console.error(`renamed ${l.from} → ${l.cell.runId}`);
    }
    console.error(`${exp.name}: ${legacy.length} folder(s) renamed to today's run ids; nothing else changed`);
    return 0;
  }
  const note = legacyNote(exp.name, legacy);
  if (a.status) {
    if (note) console.error(`note: ${note}`);
    const st = sweepStatus(resultsDir, exp.name, cells, p.leaseSeconds);
    if (a.json) console.log(JSON.stringify(st, null, 2));
    else console.log(formatStatus({ ...st, experiment: exp.name + p.shardTxt }, formatDuration));
    return 0;
  }
  const status = new Map(cells.map((c) => [c.runId, cellStatus(resultsDir, exp.name, c)]));
  if (a["dry-run"]) {
    if (note) console.error(`note: ${note}`);
    printPlan(exp.name + p.shardTxt, cells, status, cellEstimate(exp));
    return 0;
  }
  // A folder under a cell's id written by another config is refused before anything runs (finished cells too: the
  // report would otherwise show its numbers under this config's id). Nothing is moved or deleted.
  for (const c of cells) if (status.get(c.runId) !== "new") assertSameConfig(runDir(resultsDir, exp.name, c.runId), c);
  if (note) throw new ConfigError(note);

  const toRun = cells.filter((c) => a.force || !isFinished(status.get(c.runId)!));
  if (toRun.length && a.preflight !== false) {
    const problems = await preflight(toRun.map((c) => c.config));
    if (problems.length) {
      throw new ConfigError(
        `preflight: ${problems.length} problem(s) with what the cells to run read; nothing was started:\n  ` +
          problems.join("\n  "),
      );
    }
  }
  const estimate = cellEstimate(exp);
  const pending = longestFirst(toRun, (c) => estimate(c.config));
  console.error(
    `${exp.name}${p.shardTxt}: ${cells.length} cells, ${cells.length - pending.length} finished, ${pending.length} to run`,
  );
  const helpers = await startHelpers(a, p, pending);
  const { failures, aborted } = await trainPending(a, p, pending, helpers !== undefined);
  const helperCodes = helpers ? await helpers.done : [];
  if (a.report !== false) await writeReport(a, p);
  if (aborted) return aborted === "SIGTERM" ? EXIT_RETRY : 130;
  // A helper stopped by a signal (75, 130, killed) left its cell to this process, which has finished it by now.
  const helperFailed = helperCodes.some((c) => c !== null && c !== 0 && c !== EXIT_RETRY && c !== 130);
  return failures > 0 || helperFailed ? 1 : 0;
}

/**
 * --workers: start the other worker processes of this machine (src/sweep/local-workers.ts), or none (one worker,
 * one cell left, a shard, --force; `auto` also on a GPU backend, which one process keeps busy).
 */
async function startHelpers(a: SweepArgs, p: SweepPlan, pending: readonly Cell[]): Promise<LocalWorkers | undefined> {
  const asked = parseWorkersArg(a.workers);
  if (asked !== "auto" && asked > 1 && (p.shardTxt || a.force))
    throw new ConfigError(
      `--workers ${asked} cannot be combined with ${a.force ? "--force" : "a shard"}: run ${a.force ? "--force" : "the shard"} with one worker`,
    );
  const auto = asked === "auto";
  const n = Math.min(pending.length, auto ? Math.min(os.availableParallelism(), AUTO_WORKERS_MAX) : asked);
  if (n <= 1 || (auto && (p.shardTxt || a.force))) return undefined;
  const threads = threadsPerWorker(n);
  const userThreads = process.env.LORA_LAB_NATIVE_MATMUL_THREADS;
  process.env.LORA_LAB_NATIVE_MATMUL_THREADS ??= `${threads}`; // before this process's first product reads it
  if (auto) {
    const backend = await initBackend(pending[0]!.config.backend);
    if (backend.name !== "wasm" && backend.name !== "cpu") {
      if (userThreads === undefined) delete process.env.LORA_LAB_NATIVE_MATMUL_THREADS;
      return undefined;
    }
  }
  console.error(
    `${n} workers on this machine (this one and ${n - 1} more), ${process.env.LORA_LAB_NATIVE_MATMUL_THREADS} matmul thread(s) each`,
  );
  const args = workerSweepArgs(
    workerArgs(a, p.exp.name, p.leaseSeconds),
    // --no-wait: a helper with nothing left to claim exits at once; this process waits for the cells still held.
    ["--no-preflight", "--no-wait", "--workers", "1"],
  );
  return startLocalWorkers(args, n - 1, threads, (line) => console.error(line));
}

/** What every worker this command starts (here, on Slurm, on Kubernetes) is given: this command's cells and folders. */
function workerArgs(a: SweepArgs, experiment: string, leaseSeconds: number): WorkerArgs {
  return {
    experiment,
    set: asList(a.set),
    only: asList(a.only),
    backend: a.backend,
    dataDir: a["data-dir"],
    resultsDir: a["results-dir"],
    seed: a.seed,
    leaseSeconds: a.lease === undefined ? undefined : leaseSeconds,
  };
}

function parseWorkersArg(v: SweepArgs["workers"]): number | "auto" {
  try {
    return parseWorkers(v);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

/** Progress output: bars on a terminal, plain lines otherwise (and beside other workers' lines). */
function progressOutput(total: number, plain: boolean) {
  const tty = Boolean(process.stderr.isTTY) && !plain;
  const multi = tty
    ? new cliProgress.MultiBar(
        { clearOnComplete: false, hideCursor: true, format: "{bar} {value}/{total} {label}" },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const overall = multi?.create(total, 0, { label: "runs" });
  const line = multi?.create(1, 0, { label: "" });
  const log = (m: string) => (multi ? multi.log(`${m}\n`) : console.error(m));
  return { multi, overall, line, log };
}

/**
 * Claim and train the pending cells until none is left; cells other workers hold are waited for (or taken over once
 * their claim goes stale), unless --no-wait. With `helpers` (this machine's other workers, whose lines it prints
 * too) the output is plain lines and the wait polls every 0.5 s. Returns the number of failed cells and the abort
 * reason, if any.
 */
async function trainPending(
  a: SweepArgs,
  p: SweepPlan,
  cells: readonly Cell[],
  helpers = false,
): Promise<{ failures: number; aborted: string }> {
  const { exp, resultsDir, leaseSeconds } = p;
  const sweepStart = Date.now();
  const { signal, dispose } = installInterruptHandler();
  const out = progressOutput(cells.length, helpers);
  const task = workerTaskName();
  const counts = { done: 0, failures: 0, total: cells.length };
  let pending = [...cells];
  let lastWaitNote = "";
  while (pending.length && !signal.aborted) {
    const held: Cell[] = [];
    for (const cell of pending) {
      if (signal.aborted) break;
      const claim = tryClaim(resultsDir, exp.name, cell.runId, {
        leaseSeconds,
        totalSteps: cell.config.train.steps,
        task,
      });
      if (!claim) {
        held.push(cell);
        continue;
      }
      try {
        await trainClaimed(a, p, cell, claim, { sweepStart, signal, counts, ...out });
      } finally {
        claim.release();
      }
    }
    pending = held.filter((c) => !isFinished(cellStatus(resultsDir, exp.name, c)));
    if (!pending.length || signal.aborted || a.wait === false) break;
    // Every cell left is held by another worker: wait for it to finish, or for its claim to go stale (then take it).
    const note = `waiting for ${pending.length} cell(s) held by other workers (a claim older than the ${leaseSeconds}s lease is taken over)`;
    if (note !== lastWaitNote) out.log(note);
    lastWaitNote = note;
    await sleep((helpers ? 0.5 : Math.min(5, leaseSeconds / 4)) * 1000, signal);
  }
  out.multi?.stop();
  dispose();
  if (pending.length && !signal.aborted) out.log(`${pending.length} cell(s) left to other workers (--no-wait)`);
  const aborted = signal.aborted ? String(signal.reason) : "";
  if (aborted) console.error(`interrupted (${aborted}): rerun the same command to resume (finished cells are kept).`);
  return { failures: counts.failures, aborted };
}

/** Train one cell this worker has claimed, unless another worker finished it meanwhile (or it failed in this sweep). */
async function trainClaimed(
  a: SweepArgs,
  p: SweepPlan,
  cell: Cell,
  claim: Claim,
  run: {
    sweepStart: number;
    signal: AbortSignal;
    counts: { done: number; failures: number; total: number };
    overall: cliProgress.SingleBar | undefined;
    line: cliProgress.SingleBar | undefined;
    log: (m: string) => void;
  },
): Promise<void> {
  const { exp, resultsDir } = p;
  const { log, counts } = run;
  // Re-read under the claim: another worker may have finished (or, in this sweep, failed) the cell meanwhile.
  const st = cellStatus(resultsDir, exp.name, cell);
  const fin = finishedAt(resultsDir, exp.name, cell);
  const thisSweep = fin !== null && fin >= run.sweepStart;
  if ((isFinished(st) && (!a.force || thisSweep)) || (st === "failed" && thisSweep)) return;
  const dir = runDir(resultsDir, exp.name, cell.runId);
  if (st !== "new") assertSameConfig(dir, cell);
  const stale = removeTempFiles(dir);
  if (stale.length)
    log(`  removed ${stale.length} temp file(s) a killed worker left in ${cell.runId}: ${stale.join(", ")}`);
  if (a.force && isFinished(st)) {
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const archive = path.join(resultsDir, exp.name, ".archive", `${cell.runId}-${stamp}`);
    fs.mkdirSync(path.dirname(archive), { recursive: true });
    fs.renameSync(dir, archive);
    log(`--force: moved the finished ${cell.runId} to ${path.relative(process.cwd(), archive)}`);
  }
  const resumed = st === "partial" || st === "interrupted" || st === "failed";
  const takeover = claim.info.generation > 0 ? `; took over a stale claim` : "";
  log(`[${counts.done + 1}/${counts.total}] ${cell.runId}${resumed ? ` (resuming, was ${st}${takeover})` : ""}`);
  const summary = await runCell(exp.name, cell, dir, claim, p.leaseSeconds, run.signal, log, run.line);
  counts.done++;
  run.overall?.update(counts.done);
  const finalTxt = Object.entries(summary.final)
    .map(([t, m]) => `${t} ${fmtMain(m)}`)
    .join(", ");
  const took = formatDuration(summary.trainSeconds + summary.evalSeconds);
  log(`  → ${summary.status}${summary.error ? `: ${summary.error}` : ""} in ${took}${finalTxt ? `; ${finalTxt}` : ""}`);
  if (summary.status === "failed") counts.failures++;
}

/** The experiment's report after the sweep; a failure to write it never touches the results. */
async function writeReport(a: SweepArgs, p: SweepPlan): Promise<void> {
  try {
    const { renderReport } = await import("../report/render.ts");
    const reportsDir = path.resolve(a["reports-dir"] ?? "reports");
    const r = await renderReport({ experiment: p.exp.name, resultsDir: p.resultsDir, reportsDir });
    const warn = r.warnings.length ? ` (${r.warnings.length} warnings)` : "";
    console.error(`report: ${path.relative(process.cwd(), r.dir)}/index.html${warn}`);
  } catch (e) {
    console.error(
      `report could not be written: ${(e as Error).message} (the results are intact; run \`report ${p.exp.name}\`)`,
    );
  }
}

/** Train one claimed cell with its heartbeat running; a lost claim (another worker took it over) stops the run. */
async function runCell(
  experiment: string,
  cell: Cell,
  dir: string,
  claim: Claim,
  leaseSeconds: number,
  signal: AbortSignal,
  log: (m: string) => void,
  line: cliProgress.SingleBar | undefined,
): Promise<RunSummary> {
  const hb = startHeartbeat(claim, leaseSeconds / 4);
  const lostCtl = new AbortController();
  try {
    return await runTraining(cell.config, {
      experiment,
      runId: cell.runId,
      configHash: cell.configHash,
      dir,
      signal: AbortSignal.any([signal, lostCtl.signal]),
      log: (m) => log(`  ${m}`),
      onStep: (p) => {
        hb.setStep(p.step);
        if (hb.lost() && !lostCtl.signal.aborted) {
          log(`  ${cell.runId}: another worker took this cell over (our heartbeat was older than the lease); stopping`);
          lostCtl.abort("lost claim");
        }
        if (line) line.update(p.step, { label: formatProgressLine(cell.runId, p) });
        else if (p.step === p.totalSteps || p.step % Math.max(1, Math.floor(p.totalSteps / 10)) === 0)
          console.error(`  ${formatProgressLine(cell.runId, p)}`);
      },
    });
  } finally {
    await hb.stop();
  }
}

function finishedAt(resultsDir: string, experiment: string, cell: Cell): number | null {
  try {
    const s = JSON.parse(
      fs.readFileSync(path.join(runDir(resultsDir, experiment, cell.runId), RUN_FILES.summary), "utf8"),
    ) as RunSummary;
    const t = Date.parse(s.finishedAt ?? "");
    return Number.isFinite(t) ? t : null;
  } catch {
    return null;
  }
}

/** The scheduler task this worker is, for claims and --status. */
function workerTaskName(): string | undefined {
  const e = process.env;
  if (e.SLURM_ARRAY_JOB_ID && e.SLURM_ARRAY_TASK_ID) return `slurm ${e.SLURM_ARRAY_JOB_ID}_${e.SLURM_ARRAY_TASK_ID}`;
  if (e.SLURM_JOB_ID) return `slurm ${e.SLURM_JOB_ID}`;
  if (e.JOB_COMPLETION_INDEX !== undefined) return `k8s ${e.HOSTNAME ?? "pod"} #${e.JOB_COMPLETION_INDEX}`;
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** --slurm / --k8s: write (and submit) the job array, or print the Indexed Job manifest. */
async function launch(a: SweepArgs, experiment: string, nCells: number, leaseSeconds: number): Promise<number> {
  if (a.slurm && a.k8s) throw new ConfigError("--slurm and --k8s: pick one");
  if (a.force)
    throw new ConfigError(
      "--force cannot be combined with --slurm/--k8s (a requeued task would archive cells the first attempt finished); run --force once locally, or move the folders to rerun",
    );
  if (a.shard !== undefined)
    throw new ConfigError(
      "--shard selects one shard to run here; with --slurm/--k8s use --shards N (the number of array tasks)",
    );
  if (a.status || a["dry-run"]) throw new ConfigError("--status/--dry-run cannot be combined with --slurm/--k8s");
  const shards = a.shards ?? Math.min(nCells, 1000);
  if (!Number.isInteger(shards) || shards < 1)
    throw new ConfigError(`--shards ${a.shards}: must be a positive integer`);
  if (shards > nCells)
    console.error(`note: ${shards} shards for ${nCells} cells: ${shards - nCells} task(s) will have nothing to do`);
  const w = workerArgs(a, experiment, leaseSeconds);
  if (a.k8s) {
    if (!a.print)
      throw new ConfigError("--k8s only prints the manifest: add --print (and apply it with kubectl apply -f)");
    console.log(
      indexedJobManifest(w, {
        shards,
        image: a.image ?? "lora-lab:latest",
        parallelism: a.parallelism,
        gpus: a.gpus,
        mountPath: a["mount-path"] ?? "/data",
        claimName: a["volume-claim"] ?? "lora-lab-data",
      }),
    );
    return 0;
  }
  const o: SlurmOptions = {
    shards,
    partition: a.partition,
    gpusPerTask: a["gpus-per-task"],
    cpusPerTask: a["cpus-per-task"],
    mem: a.mem,
    time: a.time,
    arrayParallelism: a["array-parallelism"],
    sbatchArgs: asList(a["sbatch-arg"]),
  };
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const files = slurmPaths(a["results-dir"], experiment, stamp);
  const array = arrayScript(w, o, files);
  const report = reportScript({ ...w, reportsDir: a["reports-dir"] ?? "reports" }, o, files);
  if (a.print) {
    console.log(array);
    console.log(report);
    return 0;
  }
  const sbatch = findOnPath("sbatch");
  if (!sbatch)
    throw new ConfigError(
      "--slurm: `sbatch` is not on PATH (run this on a Slurm login node, or add --print to only write the script)",
    );
  fs.mkdirSync(files.logsDir, { recursive: true });
  writeFileAtomic(files.arrayScript, array);
  writeFileAtomic(files.reportScript, report);
  const jobId = submit(sbatch, ["--parsable", files.arrayScript]);
  const reportId = submit(sbatch, ["--parsable", `--dependency=afterany:${jobId}`, files.reportScript]);
  console.error(
    `submitted job array ${jobId} (${shards} tasks) and report job ${reportId}\n  script: ${files.arrayScript}\n  logs:   ${files.logsDir}/\n  watch:  sweep ${experiment} --status`,
  );
  console.log(jobId);
  return 0;
}

function submit(sbatch: string, args: string[]): string {
  const r = spawnSync(sbatch, args, { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(
      `sbatch ${args.join(" ")} failed (exit ${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim()}`,
    );
  return r.stdout.trim().split(";")[0]!;
}

function findOnPath(cmd: string): string | null {
  for (const d of (process.env.PATH ?? "").split(path.delimiter)) {
    const f = path.join(d, cmd);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch {
      // not here
    }
  }
  return null;
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
    mc ??= isRandomModelSpec(cfg.model)
      ? parseRandomModelSpec(cfg.model).config
      : fs.existsSync(path.join(cfg.model, "config.json"))
        ? readModelConfig(cfg.model)
        : undefined;
  } catch {
    mc = undefined;
  }
  if (!mc) return NaN;
  const f = loraStepFlops(mc, cfg.lora, cfg.train.batchSize, cfg.train.maxSeqLen);
  return (cfg.train.steps * f.step) / (WASM_GFLOPS * 1e9);
}

/** The experiment's time estimate for a cell, else its FLOPs' (NaN when neither can say, never a throw). */
function cellEstimate(exp: Experiment): (cfg: Cell["config"]) => number {
  const estimate = exp.estimateSeconds ?? estimateFromFlops;
  return (cfg) => {
    try {
      return estimate(cfg);
    } catch {
      return NaN; // e.g. a width experiment's estimate on a model that is not a random:… spec
    }
  };
}

function printPlan(
  name: string,
  cells: readonly Cell[],
  status: Map<string, string>,
  estimate: (c: Cell["config"]) => number,
): void {
  const rows = cells.map((c, i) => {
    const est = estimate(c.config);
    return [String(i + 1), c.runId, status.get(c.runId)!, Number.isFinite(est) ? formatDuration(est) : "?"];
  });
  const w = [0, 1, 2, 3].map((j) =>
    Math.max(...rows.map((r) => r[j]!.length), ["#", "run id", "status", "est."][j]!.length),
  );
  const fmt = (r: string[]) => r.map((x, j) => x.padEnd(w[j]!)).join("  ");
  console.log(fmt(["#", "run id", "status", "est."]));
  for (const r of rows) console.log(fmt(r));
  const counts = new Map<string, number>();
  for (const s of status.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
  const todo = cells.filter((c) => !isFinished(status.get(c.runId) as never));
  const total = estimate ? todo.reduce((s, c) => s + estimate(c.config), 0) : NaN;
  console.log(
    `\n${name}: ${cells.length} cells (${[...counts].map(([k, v]) => `${v} ${k}`).join(", ")}); estimated ${formatDuration(total)} of training to run the rest on a 2-core CPU with the wasm backend (full-length batches; evaluation not included)`,
  );
}

const sweepBuilder = (y: import("yargs").Argv) =>
  y
    .option("set", { type: "string", array: true, describe: "override for every cell, key=value (changes run ids)" })
    .option("only", {
      type: "string",
      array: true,
      describe: "run only cells with key=value[,value] (e.g. optimizer=stable-lora seed=0)",
    })
    .option("dry-run", { type: "boolean", describe: "print the cells, their status and estimated cost; run nothing" })
    .option("force", {
      type: "boolean",
      describe: "rerun finished cells (their old folders are archived, not deleted)",
    })
    .option("report", {
      type: "boolean",
      default: true,
      describe: "write reports/<experiment>/ at the end (--no-report to skip)",
    })
    .option("reports-dir", { type: "string", default: "reports" })
    .option("migrate-ids", {
      type: "boolean",
      describe: "rename result folders written under pre-per-optimizer-config run ids, then exit",
    })
    .option("preflight", {
      type: "boolean",
      default: true,
      describe:
        "check every model, data file and task split the cells read before the first cell (--no-preflight to skip)",
    })
    .option("shard", {
      type: "string",
      describe: "run only shard I of N (0-based I/N); default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX",
    })
    .option("shards", {
      type: "number",
      describe: "number of shards: array tasks for --slurm/--k8s; with JOB_COMPLETION_INDEX, the Job's completions",
    })
    .option("lease", {
      type: "number",
      describe: `seconds without a heartbeat after which a claimed cell is taken over (default ${DEFAULT_LEASE_SECONDS})`,
    })
    .option("wait", {
      type: "boolean",
      default: true,
      describe: "when only cells held by other workers are left, wait for them (--no-wait: exit)",
    })
    .option("workers", {
      type: "string",
      describe: `worker processes on this machine sharing the cells and the cores (N, or auto: one per core on a CPU backend, at most ${AUTO_WORKERS_MAX}; default 1, the quickstart auto)`,
    })
    .option("status", {
      type: "boolean",
      describe: "print done/running/stale/failed/diverged/to-do counts, workers and an ETA; run nothing",
    })
    .option("json", { type: "boolean", describe: "with --status: one JSON object on stdout" })
    .option("slurm", {
      type: "boolean",
      describe: "write results/<exp>/slurm/<stamp>.sbatch (a job array, one task per shard) and submit it",
    })
    .option("partition", { type: "string", describe: "--slurm: partition" })
    .option("gpus-per-task", { type: "number", describe: "--slurm: GPUs per array task" })
    .option("cpus-per-task", { type: "number", describe: "--slurm: CPUs per array task" })
    .option("mem", { type: "string", describe: "--slurm: memory per task (e.g. 32G)" })
    .option("time", { type: "string", describe: "--slurm: time limit per task (e.g. 12:00:00)" })
    .option("array-parallelism", { type: "number", describe: "--slurm: at most K tasks at once (--array=0-N%K)" })
    .option("sbatch-arg", {
      type: "string",
      array: true,
      describe: "--slurm: extra #SBATCH line, e.g. --sbatch-arg=--account=abc",
    })
    .option("print", { type: "boolean", describe: "--slurm/--k8s: print the script or manifest, submit nothing" })
    .option("k8s", { type: "boolean", describe: "with --print: a Kubernetes Indexed Job manifest (one pod per shard)" })
    .option("image", { type: "string", describe: "--k8s: container image holding this repository" })
    .option("parallelism", { type: "number", describe: "--k8s: pods at once" })
    .option("gpus", { type: "number", describe: "--k8s: nvidia.com/gpu per pod" })
    .option("mount-path", { type: "string", describe: "--k8s: where the shared volume is mounted (default /data)" })
    .option("volume-claim", {
      type: "string",
      describe: "--k8s: the ReadWriteMany PVC holding results/ (default lora-lab-data)",
    });

/** Exit codes: 0 done, 1 a cell failed, 2 configuration error, 75 SIGTERM after a checkpoint (retry), 130 Ctrl-C. */
export async function sweepExitCode(a: SweepArgs, experiments: ExperimentRegistry): Promise<number> {
  try {
    return await runSweep(a, experiments);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`error: ${e.message}`);
    return EXIT_CONFIG;
  }
}

/** `sweep <experiment>` and the command-less default (the quickstart), over the experiments run.ts registers. */
export function sweepCommands(experiments: ExperimentRegistry): CommandModule<object, SweepArgs>[] {
  return [
    {
      command: "$0",
      describe: "run the offline quickstart experiment (about a minute on 2 CPU cores), then its report",
      builder: (y) => sweepBuilder(y) as never,
      handler: async (a) => {
        process.exitCode = await sweepExitCode(
          { ...a, experiment: "quickstart", workers: a.workers ?? "auto" },
          experiments,
        );
      },
    },
    {
      command: "sweep <experiment>",
      describe: "run every missing cell of an experiment (resumable, any number of workers), then write its report",
      builder: (y) => sweepBuilder(y).positional("experiment", { type: "string", demandOption: true }) as never,
      handler: async (a) => {
        process.exitCode = await sweepExitCode(a, experiments);
      },
    },
  ];
}
