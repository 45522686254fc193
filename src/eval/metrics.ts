// Metrics with lm-evaluation-harness semantics (lm_eval/api/task.py process_results, lm_eval/api/metrics.py):
// acc = argmax of summed log-prob; acc_norm = argmax of log-prob ÷ character length of the choice text (the choice
// without the target delimiter, as lm-eval's `len(i) for i in choices`); ties go to the first index (np.argmax).
// Aggregation is the mean; stderr is lm-eval's mean_stderr = sample stddev / √n = √(p(1−p)/(n−1)) for 0/1 scores.
import type { Rng } from "../util/rng.ts";

/** Index of the first maximum (np.argmax). NaN never wins unless everything is NaN (then 0). */
export function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i]!;
    const b = xs[best]!;
    if (x > b || (Number.isNaN(b) && !Number.isNaN(x))) best = i;
  }
  return best;
}

export interface ChoiceScores {
  /** Predicted index by summed log-prob. */
  readonly pred: number;
  /** Predicted index by log-prob per character. */
  readonly predNorm: number;
  readonly acc: 0 | 1;
  readonly accNorm: 0 | 1;
}

/** lm-eval multiple_choice scoring of one doc. `choices` are the texts without the target delimiter. */
export function scoreChoices(logprobs: readonly number[], choices: readonly string[], gold: number): ChoiceScores {
  if (logprobs.length !== choices.length)
    throw new Error(`scoreChoices: ${logprobs.length} log-probs for ${choices.length} choices`);
  if (!(Number.isInteger(gold) && gold >= 0 && gold < choices.length))
    throw new Error(`scoreChoices: gold index ${gold} out of range 0..${choices.length - 1}`);
  const pred = argmax(logprobs);
  // lm-eval divides by float(len(choice)); a zero-length choice gives ±inf/NaN there too.
  const predNorm = argmax(logprobs.map((lp, i) => lp / choices[i]!.length));
  return { pred, predNorm, acc: pred === gold ? 1 : 0, accNorm: predNorm === gold ? 1 : 0 };
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator), lm-eval's sample_stddev. */
export function sampleStddev(xs: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const mu = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - mu) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/** lm-eval's mean_stderr: sample_stddev / √n. For 0/1 scores with mean p: √(p(1−p)/(n−1)). NaN for n < 2. */
export function meanStderr(xs: readonly number[]): number {
  return sampleStddev(xs) / Math.sqrt(xs.length);
}

/**
 * Bootstrap standard error of the mean: resample n items with replacement `iters` times and take the sample
 * stddev of the resampled means. lm-eval uses this only for non-mean aggregations; it is here for checking.
 */
export function bootstrapStderr(xs: readonly number[], iters: number, rng: Rng): number {
  if (xs.length === 0) return NaN;
  const means: number[] = [];
  for (let b = 0; b < iters; b++) {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)]!;
    means.push(s / xs.length);
  }
  return sampleStddev(means);
}

/** `{"<metric>,<filter>": mean, "<metric>_stderr,<filter>": stderr}` — lm-eval's result keys. */
export function aggregate(metric: string, filter: string, scores: readonly number[]): Record<string, number> {
  return { [`${metric},${filter}`]: mean(scores), [`${metric}_stderr,${filter}`]: meanStderr(scores) };
}
