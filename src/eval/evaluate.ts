// Evaluate a LanguageModel on a task the way lm-evaluation-harness does: multiple choice by log-likelihood of
// context + target_delimiter + choice (acc, acc_norm by characters), generation by greedy decoding until a stop string
// then the named answer filters (exact_match per filter). Every doc leaves a per-sample record holding everything the
// metrics are computed from, so rescore(samples) reproduces the metrics without the model.
import * as fs from "node:fs";
import * as path from "node:path";
import { Rng } from "../util/rng.ts";
import { getTask } from "../tasks/registry.ts";
import { loadDocs, subsampleIndices } from "../tasks/load.ts";
import type { FilterName, GenerateTask, MultipleChoiceTask, SplitName, TaskSpec } from "../tasks/types.ts";
import { aggregate, scoreChoices } from "./metrics.ts";
import { applyFilter, exactMatch, type AnswerStyle } from "./filters.ts";
import type { LanguageModel } from "./types.ts";

export interface EvalOptions {
  readonly dataDir: string;
  /** Seeded subsample of this many docs (null/undefined = all). */
  readonly limit?: number | null;
  readonly seed?: number;
  /** Default: the task's evaluation split. */
  readonly split?: SplitName;
  /** Default: the task's (0 for multiple choice and gsm8k, 5 for gsm8k_lm_eval). */
  readonly numFewshot?: number;
  readonly batchSize?: number;
  /** Default: the task's generation.maxNewTokens. */
  readonly maxNewTokens?: number;
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Resume per document: samples are appended to this JSONL file as they are scored (in chunks of documents), and a
   * rerun with the same `resume.key` (whatever identifies model, adapter and settings) scores only the documents not
   * in it. The caller removes the file once it has written the final results.
   */
  readonly resume?: { readonly file: string; readonly key: string; readonly chunkDocs?: number };
  /** With `resume`: checked between chunks; an aborted signal stops the evaluation (the chunks done are kept). */
  readonly signal?: AbortSignal;
}

export interface MultipleChoiceSample {
  readonly task: string;
  readonly kind: "multiple_choice";
  readonly docIndex: number;
  readonly docId: string;
  readonly context: string;
  readonly targetDelimiter: string;
  /** Choice texts without the delimiter (acc_norm divides by their character length). */
  readonly choices: string[];
  /** Gold choice index. */
  readonly target: number;
  /** Summed log-prob of targetDelimiter + choice, per choice (natural log). */
  readonly logprobs: number[];
  readonly isGreedy: boolean[];
  readonly prediction: number;
  readonly predictionNorm: number;
  readonly acc: 0 | 1;
  readonly acc_norm: 0 | 1;
}

export interface GenerateSample {
  readonly task: string;
  readonly kind: "generate_until";
  readonly docIndex: number;
  readonly docId: string;
  readonly context: string;
  readonly generation: string;
  /** The gold final answer as written in the data (e.g. "1,234"). */
  readonly target: string;
  readonly answerStyle: AnswerStyle;
  readonly filtered: Partial<Record<FilterName, string>>;
  readonly exact_match: Partial<Record<FilterName, 0 | 1>>;
}

export type EvalSample = MultipleChoiceSample | GenerateSample;

export interface EvalResult {
  readonly task: string;
  readonly split: SplitName;
  readonly n: number;
  readonly numFewshot: number;
  /** lm-eval keys: "acc,none", "acc_stderr,none", "acc_norm,none", … or "exact_match,strict-match", … */
  readonly metrics: Record<string, number>;
  readonly samples: EvalSample[];
  readonly files: readonly string[];
  readonly seconds: number;
}

export async function evaluateTask(
  lm: LanguageModel,
  taskOrName: TaskSpec | string,
  opts: EvalOptions,
): Promise<EvalResult> {
  const t0 = Date.now();
  const task = typeof taskOrName === "string" ? getTask(taskOrName) : taskOrName;
  if (task.outputType === "train_only")
    throw new Error(`task "${task.name}" is training-only; evaluate on a task with an evaluation split (e.g. gsm8k)`);
  const split = opts.split ?? task.splits.eval;
  if (!split) throw new Error(`task "${task.name}" has no evaluation split; pass one (--split)`);
  const seed = opts.seed ?? 0;
  const numFewshot = opts.numFewshot ?? task.defaultNumFewshot;

  const loaded = await loadDocs(task, split, opts.dataDir);
  const indices = subsampleIndices(loaded.docs.length, opts.limit, Rng.derive(seed, `${task.name}/${split}/limit`));
  const contexts = await buildContexts(task, loaded.docs, indices, split, numFewshot, seed, opts.dataDir);

  const run = (idx: number[], ctx: string[], o: EvalOptions): Promise<EvalSample[]> =>
    task.outputType === "multiple_choice"
      ? runMultipleChoice(lm, task, loaded.docs, idx, ctx, o)
      : runGenerate(lm, task, loaded.docs, idx, ctx, o);
  const samples = opts.resume
    ? await runResumable(indices, contexts, opts, opts.resume, run)
    : await run(indices, contexts, opts);
  return {
    task: task.name,
    split,
    n: samples.length,
    numFewshot,
    metrics: rescore(samples),
    samples,
    files: loaded.files,
    seconds: (Date.now() - t0) / 1000,
  };
}

/**
 * Score the documents not yet in the resume file, a chunk at a time, appending each chunk's samples to it; then all
 * samples in document order. Kept samples must be for the same document and context (else they are scored again).
 */
async function runResumable(
  indices: number[],
  contexts: string[],
  opts: EvalOptions,
  resume: NonNullable<EvalOptions["resume"]>,
  run: (idx: number[], ctx: string[], o: EvalOptions) => Promise<EvalSample[]>,
): Promise<EvalSample[]> {
  const done = new Map<number, EvalSample>();
  const want = new Map(indices.map((i, k) => [i, contexts[k]!]));
  let header = false;
  if (fs.existsSync(resume.file)) {
    const lines = fs.readFileSync(resume.file, "utf8").split("\n");
    try {
      header = (JSON.parse(lines[0] ?? "") as { resumeKey?: string }).resumeKey === resume.key;
    } catch {
      header = false;
    }
    if (header) {
      for (const line of lines.slice(1)) {
        try {
          const s = JSON.parse(line) as EvalSample;
          if (want.get(s.docIndex) === s.context) done.set(s.docIndex, s);
        } catch {
          // a torn last line (the process was killed while appending): that document is scored again
        }
      }
    }
  }
  // Rewrite the file with the header and the samples kept (drops torn lines and another key's samples).
  fs.mkdirSync(path.dirname(resume.file), { recursive: true });
  fs.writeFileSync(
    resume.file,
    [JSON.stringify({ resumeKey: resume.key }), ...[...done.values()].map((s) => JSON.stringify(s))].join("\n") + "\n",
  );
  const todo = indices.map((i, k) => [i, k] as const).filter(([i]) => !done.has(i));
  const chunk = Math.max(1, resume.chunkDocs ?? Math.max(64, (opts.batchSize ?? 16) * 4));
  for (let c = 0; c < todo.length; c += chunk) {
    // Let signal handlers run (scoring keeps the event loop busy), then stop if asked to: the chunks done are kept.
    await new Promise<void>((r) => setImmediate(r));
    if (opts.signal?.aborted)
      throw new Error(
        `evaluation interrupted after ${done.size} of ${indices.length} documents (they are kept in ${resume.file})`,
      );
    const part = todo.slice(c, c + chunk);
    const base = done.size;
    const got = await run(
      part.map(([i]) => i),
      part.map(([, k]) => contexts[k]!),
      {
        ...opts,
        onProgress: opts.onProgress
          ? (d, t) => opts.onProgress!(base + (d / Math.max(1, t)) * part.length, indices.length)
          : undefined,
      },
    );
    fs.appendFileSync(resume.file, got.map((s) => JSON.stringify(s) + "\n").join(""));
    for (const s of got) done.set(s.docIndex, s);
  }
  return indices.map((i) => done.get(i)!);
}

/**
 * lm-eval's context: k few-shot examples (docToText + delimiter + target), joined and followed by fewshotDelimiter,
 * then the doc's docToText. Shots are drawn per doc from the few-shot split with a seeded Rng, never the doc itself.
 */
async function buildContexts(
  task: MultipleChoiceTask | GenerateTask,
  docs: unknown[],
  indices: number[],
  split: SplitName,
  k: number,
  seed: number,
  dataDir: string,
): Promise<string[]> {
  if (k === 0) return indices.map((i) => task.docToText(docs[i]));
  const fewshotSplit = task.splits.fewshot ?? "train";
  const pool = fewshotSplit === split ? docs : (await loadDocs(task, fewshotSplit, dataDir)).docs;
  if (pool.length < k + 1)
    throw new Error(
      `task "${task.name}": ${k}-shot needs more than ${pool.length} docs in the "${fewshotSplit}" split`,
    );
  const rng = Rng.derive(seed, `${task.name}/fewshot`);
  const shotText = (d: unknown) =>
    task.docToText(d) +
    task.targetDelimiter +
    (task.outputType === "multiple_choice" ? task.docToChoice(d)[task.docToTarget(d)]! : task.docToTarget(d));
  return indices.map((i) => {
    const chosen = new Set<number>();
    while (chosen.size < k) {
      const j = rng.int(pool.length);
      if (pool === docs && j === i) continue;
      chosen.add(j);
    }
    const shots = [...chosen].map((j) => shotText(pool[j]));
    return shots.join(task.fewshotDelimiter) + task.fewshotDelimiter + task.docToText(docs[i]);
  });
}

async function runMultipleChoice(
  lm: LanguageModel,
  task: MultipleChoiceTask,
  docs: unknown[],
  indices: number[],
  contexts: string[],
  opts: EvalOptions,
): Promise<MultipleChoiceSample[]> {
  const perDoc = indices.map((i) => ({ choices: task.docToChoice(docs[i]), gold: task.docToTarget(docs[i]) }));
  const requests = perDoc.flatMap((d, k) =>
    d.choices.map((c) => ({ context: contexts[k]!, continuation: task.targetDelimiter + c })),
  );
  const results = await lm.loglikelihood(requests, { batchSize: opts.batchSize, onProgress: opts.onProgress });
  if (results.length !== requests.length)
    throw new Error(`model returned ${results.length} log-likelihoods for ${requests.length} requests`);
  let r = 0;
  return perDoc.map((d, k) => {
    const res = results.slice(r, r + d.choices.length);
    r += d.choices.length;
    const logprobs = res.map((x) => x.logprob);
    const s = scoreChoices(logprobs, d.choices, d.gold);
    return {
      task: task.name,
      kind: "multiple_choice",
      docIndex: indices[k]!,
      docId: task.docId(docs[indices[k]!]),
      context: contexts[k]!,
      targetDelimiter: task.targetDelimiter,
      choices: d.choices,
      target: d.gold,
      logprobs,
      isGreedy: res.map((x) => x.isGreedy),
      prediction: s.pred,
      predictionNorm: s.predNorm,
      acc: s.acc,
      acc_norm: s.accNorm,
    };
  });
}

async function runGenerate(
  lm: LanguageModel,
  task: GenerateTask,
  docs: unknown[],
  indices: number[],
  contexts: string[],
  opts: EvalOptions,
): Promise<GenerateSample[]> {
  const maxNewTokens = opts.maxNewTokens ?? task.generation.maxNewTokens;
  const requests = contexts.map((context) => ({ context, until: task.generation.until, maxNewTokens }));
  const generations = await lm.generateUntil(requests, { onProgress: opts.onProgress });
  if (generations.length !== requests.length)
    throw new Error(`model returned ${generations.length} generations for ${requests.length} requests`);
  return indices.map((i, k) => {
    const target = task.docToAnswer(docs[i]);
    const filtered: Partial<Record<FilterName, string>> = {};
    const em: Partial<Record<FilterName, 0 | 1>> = {};
    for (const f of task.filters) {
      filtered[f] = applyFilter(f, generations[k]!, task.answerStyle);
      em[f] = exactMatch(filtered[f]!, target, task.answerStyle);
    }
    return {
      task: task.name,
      kind: "generate_until",
      docIndex: i,
      docId: task.docId(docs[i]),
      context: contexts[k]!,
      generation: generations[k]!,
      target,
      answerStyle: task.answerStyle,
      filtered,
      exact_match: em,
    };
  });
}

/**
 * Recompute the metrics from per-sample records alone: multiple choice from logprobs, choices and target;
 * generation by re-running the filters on the stored generation. Stored per-sample scores are not trusted.
 */
export function rescore(samples: readonly EvalSample[]): Record<string, number> {
  if (samples.length === 0) throw new Error("rescore: no samples");
  const kind = samples[0]!.kind;
  if (samples.some((s) => s.kind !== kind))
    throw new Error("rescore: samples mix multiple-choice and generation records");
  if (kind === "multiple_choice") {
    const acc: number[] = [];
    const accNorm: number[] = [];
    for (const s of samples as MultipleChoiceSample[]) {
      const r = scoreChoices(s.logprobs, s.choices, s.target);
      acc.push(r.acc);
      accNorm.push(r.accNorm);
    }
    return { ...aggregate("acc", "none", acc), ...aggregate("acc_norm", "none", accNorm) };
  }
  const gen = samples as GenerateSample[];
  const filters = Object.keys(gen[0]!.filtered) as FilterName[];
  const out: Record<string, number> = {};
  for (const f of filters) {
    const scores = gen.map((s) => exactMatch(applyFilter(f, s.generation, s.answerStyle), s.target, s.answerStyle));
    Object.assign(out, aggregate("exact_match", f, scores));
  }
  return out;
}
