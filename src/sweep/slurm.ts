// `sweep <exp> --slurm`: a Slurm job array, one task per shard, each task a `sweep --shard` worker (the shard comes
// from SLURM_ARRAY_TASK_ID), plus a report job that runs when the array has ended. The batch script forwards
// Slurm's pre-timeout SIGTERM (--signal=B:TERM@120) to the worker, which finishes its step, checkpoints, releases
// its claim and exits 75 (EX_TEMPFAIL); the script then requeues its task, which resumes from the checkpoint.
// See docs/scale-out.md.
import * as path from "node:path";
import { runTsArgv, shellQuote, workerSweepArgs, type WorkerArgs } from "./worker-command.ts";

/** Exit code of a worker stopped by SIGTERM after checkpointing: run it again (sysexits.h EX_TEMPFAIL). */
export const EXIT_RETRY = 75;
/** Exit code of a configuration or usage error: rerunning the same command will not help. */
export const EXIT_CONFIG = 2;

export interface SlurmOptions {
  shards: number;
  partition?: string;
  gpusPerTask?: number;
  cpusPerTask?: number;
  mem?: string;
  time?: string;
  arrayParallelism?: number;
  sbatchArgs: readonly string[];
}

export interface SlurmFiles {
  /** results/<exp>/slurm/<stamp>.sbatch (the job array). */
  arrayScript: string;
  /** results/<exp>/slurm/<stamp>.report.sbatch (runs `report` after the array). */
  reportScript: string;
  logsDir: string;
}

export function slurmPaths(resultsDir: string, experiment: string, stamp: string): SlurmFiles {
  const dir = path.resolve(resultsDir, experiment, "slurm");
  return {
    arrayScript: path.join(dir, `${stamp}.sbatch`),
    reportScript: path.join(dir, `${stamp}.report.sbatch`),
    logsDir: path.join(dir, "logs"),
  };
}

/** `node --import <tsx> <repo>/experiments/run.ts` with absolute paths (valid on any node sharing the filesystem). */
function runTs(): string {
  return runTsArgv().map(shellQuote).join(" ");
}

function header(lines: string[], o: SlurmOptions, logsDir: string, name: string, logName: string): string[] {
  const h = [
    `#SBATCH --job-name=${name}`,
    `#SBATCH --output=${path.join(logsDir, logName)}`,
    "#SBATCH --open-mode=append",
  ];
  if (o.partition) h.push(`#SBATCH --partition=${o.partition}`);
  if (o.cpusPerTask) h.push(`#SBATCH --cpus-per-task=${o.cpusPerTask}`);
  if (o.mem) h.push(`#SBATCH --mem=${o.mem}`);
  if (o.time) h.push(`#SBATCH --time=${o.time}`);
  return ["#!/bin/bash", ...h, ...lines];
}

export function arrayScript(a: WorkerArgs, o: SlurmOptions, files: SlurmFiles): string {
  const array = `0-${o.shards - 1}${o.arrayParallelism ? `%${o.arrayParallelism}` : ""}`;
  const extra = [`#SBATCH --array=${array}`, "#SBATCH --signal=B:TERM@120", "#SBATCH --requeue"];
  if (o.gpusPerTask) extra.push(`#SBATCH --gpus-per-task=${o.gpusPerTask}`);
  for (const x of o.sbatchArgs) extra.push(`#SBATCH ${x}`);
  const cmd = `${runTs()} ${workerSweepArgs(a).map(shellQuote).join(" ")}`;
  return [
    ...header(extra, o, files.logsDir, `lora-lab-${a.experiment}`, "%A_%a.out"),
    `# Written by \`sweep ${a.experiment} --slurm\`. Each array task is one shard (SLURM_ARRAY_TASK_ID of ${o.shards}).`,
    "set -u",
    `cd ${shellQuote(process.cwd())}`,
    `echo "task $SLURM_ARRAY_TASK_ID of ${o.shards} on $(hostname), job $SLURM_JOB_ID, restart \${SLURM_RESTART_COUNT:-0}"`,
    `${cmd} &`,
    "child=$!",
    // B:TERM reaches this shell only: pass it on, then wait for the worker to checkpoint and exit.
    `trap 'kill -TERM "$child" 2>/dev/null' TERM`,
    'wait "$child"; rc=$?',
    'while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done',
    `if [ "$rc" -eq ${EXIT_RETRY} ]; then`,
    '  echo "worker interrupted after a checkpoint: requeueing task $SLURM_ARRAY_TASK_ID"',
    '  scontrol requeue "$SLURM_JOB_ID"',
    "fi",
    'exit "$rc"',
    "",
  ].join("\n");
}

export function reportScript(a: WorkerArgs & { reportsDir: string }, o: SlurmOptions, files: SlurmFiles): string {
  const resultsDir = path.resolve(a.resultsDir);
  const cmd = [
    runTs(),
    ...["report", a.experiment, "--results-dir", resultsDir, "--reports-dir", path.resolve(a.reportsDir)].map(
      shellQuote,
    ),
  ].join(" ");
  return [
    ...header(
      [],
      { ...o, time: undefined, mem: undefined },
      files.logsDir,
      `lora-lab-${a.experiment}-report`,
      "%j-report.out",
    ),
    `# Written by \`sweep ${a.experiment} --slurm\`: the report, once every array task has ended.`,
    "set -u",
    `cd ${shellQuote(process.cwd())}`,
    `exec ${cmd}`,
    "",
  ].join("\n");
}
