// The command line one sweep worker runs on a cluster node (a Slurm array task, a Kubernetes pod): the same
// experiment, --set, --only and folders as the submitting command, with every path made absolute.
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is src/sweep/worker-command.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface WorkerArgs {
  experiment: string;
  set: readonly string[];
  only: readonly string[];
  backend?: string;
  dataDir?: string;
  resultsDir: string;
  seed?: number;
  leaseSeconds?: number;
}

/** Arguments after `run.ts`: `sweep <exp> …` for a worker that writes no report (a separate step does). */
export function workerSweepArgs(a: WorkerArgs, extra: readonly string[] = []): string[] {
  const out = ["sweep", a.experiment];
  for (const s of a.set) out.push("--set", s);
  for (const o of a.only) out.push("--only", o);
  if (a.backend && a.backend !== "auto") out.push("--backend", a.backend);
  if (a.dataDir) out.push("--data-dir", path.resolve(a.dataDir));
  out.push("--results-dir", path.resolve(a.resultsDir));
  if (a.seed !== undefined) out.push("--seed", String(a.seed));
  if (a.leaseSeconds !== undefined) out.push("--lease", String(a.leaseSeconds));
  out.push("--no-report", ...extra);
  return out;
}

/** `node --import <tsx> <repo>/experiments/run.ts` as an argv, with absolute paths. */
export function runTsArgv(): string[] {
  return [process.execPath, "--import", import.meta.resolve("tsx"), path.join(REPO_ROOT, "experiments", "run.ts")];
}

/** POSIX shell quoting. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
