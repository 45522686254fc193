// Load one experiment's results folder (results/<experiment>/<runId>/) into typed runs, for the reporter.
// Reads only files written by the runner (schema: src/results.ts). Nothing here throws on bad data: a missing or
// corrupt file becomes a warning on the run (and on the report), so a report can be drawn while a sweep is running.
import * as fs from "node:fs";
import * as path from "node:path";
import { RUN_FILES, readJsonl } from "../results.ts";
import type { EvalRecord, MetricsRecord, RunStatus, RunSummary } from "../results.ts";
import type { RunConfig } from "../config.ts";

/** What the reporter shows as a run's state. "running" = no summary.json yet (or summary says running). */
export type LoadedStatus = RunStatus | "invalid";

export interface LoadedRun {
  readonly runId: string;
  /** Absolute path of the run folder. */
  readonly dir: string;
  /** null when config.json is missing or does not parse (status "invalid"). */
  readonly config: RunConfig | null;
  readonly summary: RunSummary | null;
  readonly status: LoadedStatus;
  /** The error message to show: summary.error, or why the run could not be read. */
  readonly error: string | null;
  readonly evals: EvalRecord[];
  /** Width of the model (hidden size), when known: summary.model.hiddenSize, or "d=<n>" in a preset model string. */
  readonly hiddenSize: number | null;
  /** Last modification time of any file in the run folder (ms since epoch), for "running since" notes. */
  readonly lastWriteMs: number;
  /** Problems found while reading this run (corrupt lines, missing files), in words. */
  readonly warnings: string[];
  /** metrics.jsonl, read on first use (it is the largest file). Corrupt lines are added to `warnings`. */
  metrics(): MetricsRecord[];
  /** Files present in the folder (names), for links in the page. */
  readonly files: string[];
}

export interface LoadedExperiment {
  readonly experiment: string;
  /** Absolute path of results/<experiment>. */
  readonly dir: string;
  readonly exists: boolean;
  readonly runs: LoadedRun[];
  /** Experiment-level problems (missing folder, stray files). Per-run warnings live on each run. */
  readonly warnings: string[];
}

/**
 * Scan results/<experiment>/ → runs sorted by run id. A missing folder gives zero runs and a warning. With several
 * results folders (copied back from clusters without a shared filesystem) their runs are merged; a run id found in
 * more than one keeps the finished copy (success, diverged), else the most recently written one. The `slurm/`
 * folder that `sweep --slurm` writes is not a run.
 */
export function loadExperiment(resultsDir: string | readonly string[], experiment: string): LoadedExperiment {
  const dirs = (typeof resultsDir === "string" ? [resultsDir] : [...resultsDir]).map((d) =>
    path.resolve(d, experiment),
  );
  const warnings: string[] = [];
  const byId = new Map<string, LoadedRun>();
  const found = dirs.filter((d) => fs.existsSync(d) && fs.statSync(d).isDirectory());
  if (found.length === 0) {
    warnings.push(`no results folder ${dirs.join(" or ")}: run \`tsx experiments/run.ts sweep ${experiment}\` first`);
    return { experiment, dir: dirs[0]!, exists: false, runs: [], warnings };
  }
  for (const dir of dirs.filter((d) => !found.includes(d)))
    warnings.push(`no results folder ${dir}; reading the others`);
  for (const dir of found) {
    for (const name of fs
      .readdirSync(dir)
      .filter((n) => !n.startsWith(".") && n !== "slurm")
      .sort()) {
      const runPath = path.join(dir, name);
      if (!fs.statSync(runPath).isDirectory()) continue;
      const run = loadRun(runPath);
      const prev = byId.get(run.runId);
      const same = prev && prev.status === run.status && prev.summary?.finishedAt === run.summary?.finishedAt;
      if (prev && !same)
        warnings.push(
          `run ${run.runId} is in ${path.dirname(prev.dir)} and ${dir}; using the ${preferRun(prev, run) === prev ? "first" : "second"}`,
        );
      byId.set(run.runId, prev ? preferRun(prev, run) : run);
    }
  }
  const runs = [...byId.values()].sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  if (runs.length === 0) warnings.push(`results folder ${found.join(", ")} has no run folders yet`);
  return { experiment, dir: found[0]!, exists: true, runs, warnings };
}

function preferRun(a: LoadedRun, b: LoadedRun): LoadedRun {
  const finished = (r: LoadedRun) => r.status === "success" || r.status === "diverged";
  if (finished(a) !== finished(b)) return finished(a) ? a : b;
  return b.lastWriteMs > a.lastWriteMs ? b : a;
}

/** Read one run folder. Never throws: problems become warnings and, where the run is unusable, status "invalid". */
export function loadRun(dir: string): LoadedRun {
  const runId = path.basename(dir);
  const warnings: string[] = [];
  const files = fs.readdirSync(dir).sort();

  const config = readJsonFile<RunConfig>(path.join(dir, RUN_FILES.config), warnings);
  const summary = readJsonFile<RunSummary>(path.join(dir, RUN_FILES.summary), warnings);

  const evalRead = readJsonl<EvalRecord>(path.join(dir, RUN_FILES.eval));
  if (evalRead.badLines.length)
    warnings.push(
      `${RUN_FILES.eval}: skipped ${evalRead.badLines.length} unparsable line(s) (line ${evalRead.badLines.join(", ")})`,
    );
  const evals = evalRead.rows.filter((r) => isEvalRecord(r));
  if (evals.length < evalRead.rows.length)
    warnings.push(
      `${RUN_FILES.eval}: skipped ${evalRead.rows.length - evals.length} record(s) without step/task/metrics`,
    );

  let status: LoadedStatus;
  let error: string | null = null;
  if (!config) {
    status = "invalid";
    error = `${RUN_FILES.config} is missing or unreadable`;
  } else if (!summary) {
    status = "running";
    if (!files.includes(RUN_FILES.summary))
      warnings.push(`no ${RUN_FILES.summary}: still running, or stopped without writing one`);
  } else {
    status = summary.status;
    error = summary.error ?? null;
  }

  let metricsCache: MetricsRecord[] | null = null;
  const metrics = (): MetricsRecord[] => {
    if (metricsCache) return metricsCache;
    const read = readJsonl<MetricsRecord>(path.join(dir, RUN_FILES.metrics));
    if (read.badLines.length)
      warnings.push(
        `${RUN_FILES.metrics}: skipped ${read.badLines.length} unparsable line(s) (line ${read.badLines.join(", ")})`,
      );
    const good = read.rows.filter(
      (r) => typeof r === "object" && r !== null && Number.isFinite((r as MetricsRecord).step),
    );
    if (good.length < read.rows.length)
      warnings.push(`${RUN_FILES.metrics}: skipped ${read.rows.length - good.length} record(s) without a step`);
    metricsCache = good.sort((a, b) => a.step - b.step);
    return metricsCache;
  };

  let lastWriteMs = 0;
  for (const f of files) {
    try {
      lastWriteMs = Math.max(lastWriteMs, fs.statSync(path.join(dir, f)).mtimeMs);
    } catch {
      // a file removed while we scan (checkpoint rotation) is not an error
    }
  }

  return {
    runId,
    dir,
    config,
    summary,
    status,
    error,
    evals,
    hiddenSize: hiddenSizeOf(config, summary),
    lastWriteMs,
    warnings,
    metrics,
    files,
  };
}

/**
 * The model width n used by the quickstart width study. Expected sources, in order:
 * `summary.model.hiddenSize` (written by the runner when it knows the model), then a "d=<n>" field in a preset
 * model string such as "random:llama:d=128:L=2:…", then "hidden<n>" / "-d<n>" in the model string.
 */
export function hiddenSizeOf(config: RunConfig | null, summary: RunSummary | null): number | null {
  const fromSummary: unknown = summary?.model?.hiddenSize;
  if (typeof fromSummary === "number" && fromSummary > 0) return fromSummary;
  const m = config?.model ?? "";
  const match = /(?:^|[:,/_-])(?:d|hidden|hiddenSize|width)[=_]?(\d+)(?=$|[:,/_-])/i.exec(m);
  return match ? Number(match[1]) : null;
}

function readJsonFile<T>(file: string, warnings: string[]): T | null {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch (e) {
    warnings.push(`${path.basename(file)} does not parse as JSON (${(e as Error).message}); ignored`);
    return null;
  }
}

function isEvalRecord(r: unknown): r is EvalRecord {
  const e = r as EvalRecord;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.task === "string" &&
    Number.isFinite(e.step) &&
    typeof e.metrics === "object" &&
    e.metrics !== null
  );
}
