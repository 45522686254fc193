// Chance and ceiling for accuracy cells. A cell's mean accuracy over seeds, measured on n evaluation documents, gets
// a 95 % Wilson interval (binomial.ts); the cell is marked [chance] when the interval contains the task's chance rate,
// [below chance] when it lies entirely below it (a systematic preference, e.g. for short answers, not skill) and
// [ceiling] when it reaches THRESHOLDS.ceiling. The chance rate of a multiple-choice task is the mean over the
// evaluated documents of 1/(number of choices), read from a run's samples.jsonl; without samples, the task's usual
// number of choices. Generation tasks (exact match) have no chance rate (only the ceiling is tested).
// n is the number of documents of one evaluation, not seeds × documents: the seeds score the same documents, so
// their mean is not n·seeds independent trials (docs/paper-claims.md, "Chance and ceiling").
import * as path from "node:path";
import { RUN_FILES, readJsonl } from "../results.ts";
import type { RunAxes } from "./axes.ts";
import { wilsonInterval } from "./binomial.ts";
import type { BinomialInterval } from "./binomial.ts";
import { THRESHOLDS } from "./claims-thresholds.ts";

/** Usual number of answer choices of the lm-eval tasks we ship (ARC has a few 3- and 5-choice questions). */
const USUAL_CHOICES: Record<string, number> = {
  hellaswag: 4,
  social_iqa: 3,
  openbookqa: 4,
  arc_easy: 4,
  arc_challenge: 4,
  synthetic: 4,
  piqa: 2,
  winogrande: 2,
  boolq: 2,
};

export interface ChanceRate {
  /** Chance accuracy as a proportion (0..1); null for tasks without one (generation). */
  rate: number | null;
  source: "samples" | "usual" | "none";
}

/** The chance rate of `task`: from the first run that has multiple-choice samples for it, else USUAL_CHOICES. */
export function chanceRate(task: string, runs: readonly RunAxes[]): ChanceRate {
  for (const r of runs) {
    if (r.run.status !== "success" || !r.run.files.includes(RUN_FILES.samples)) continue;
    const rows = readJsonl<{ task?: string; kind?: string; choices?: unknown[] }>(
      path.join(r.run.dir, RUN_FILES.samples),
    ).rows.filter((s) => s.task === task);
    if (!rows.length) continue;
    if (rows.some((s) => s.kind !== "multiple_choice")) return { rate: null, source: "none" };
    const inv = rows
      .map((s) => (Array.isArray(s.choices) && s.choices.length ? 1 / s.choices.length : NaN))
      .filter(Number.isFinite);
    if (inv.length) return { rate: inv.reduce((a, b) => a + b, 0) / inv.length, source: "samples" };
  }
  const k = USUAL_CHOICES[task];
  return k ? { rate: 1 / k, source: "usual" } : { rate: null, source: "none" };
}

export type AccuracyFlag = "chance" | "below chance" | "ceiling";

/** At or below chance: the cell measures no skill. */
export const noSkill = (flags: readonly AccuracyFlag[]) => flags.includes("chance") || flags.includes("below chance");

export interface FlaggedAccuracy {
  interval: BinomialInterval;
  flags: AccuracyFlag[];
}

/** Flags for a mean accuracy p (0..1) measured on `docs` documents, against `chance` (0..1 or null) and the ceiling. */
export function flagAccuracy(p: number, docs: number, chance: number | null): FlaggedAccuracy {
  const interval = wilsonInterval(p, docs);
  const flags: AccuracyFlag[] = [];
  if (!Number.isFinite(interval.lo)) return { interval, flags };
  if (chance !== null && interval.lo <= chance && chance <= interval.hi) flags.push("chance");
  if (chance !== null && interval.hi < chance) flags.push("below chance");
  if (interval.hi >= THRESHOLDS.ceiling.value) flags.push("ceiling");
  return { interval, flags };
}

/** Number of documents of a run's final evaluation on `task` (eval.jsonl's n), or null. */
export function finalDocs(r: RunAxes, task: string): number | null {
  const finals = r.run.evals.filter((e) => e.task === task && e.final && Number.isFinite(e.n));
  return finals.length ? finals[finals.length - 1]!.n : null;
}
