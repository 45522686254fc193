// Finding and loading a task's split from `<dataDir>/<task>/`: the original authors' layouts first (TaskSpec.layouts,
// first existing file wins), else the hub's layouts found by file name (train / validation|dev|val / test, parquet,
// JSONL or JSON, shards concatenated in path order). Plus seeded subsampling (`limit`) and training examples,
// including the merged-QA stream. A missing folder is an error that says how to get the data.
import * as fs from "node:fs";
import * as path from "node:path";
import { Rng } from "../util/rng.ts";
import { DataFileError, formatOf, readRows } from "./readers.ts";
import { getTask, MERGED_QA } from "./registry.ts";
import {
  QA_TASK_NAMES,
  toTrainingExample,
  type DataLayout,
  type FileFormat,
  type SplitName,
  type TaskSpec,
  type TrainExample,
} from "./types.ts";

export class MissingDataError extends Error {
  override name = "MissingDataError";
}

export interface SplitFile {
  readonly file: string;
  readonly format: FileFormat;
  readonly labels?: string;
}

export interface LoadedSplit<Doc = unknown> {
  readonly task: string;
  readonly split: SplitName;
  readonly docs: Doc[];
  readonly files: readonly string[];
  /** Set when a fallback source was used (e.g. GSM8K train standing in for MetaMathQA). */
  readonly note?: string;
}

const SPLIT_PATTERNS: Record<SplitName, RegExp> = {
  train: /(^|[^a-z])train([^a-z]|$)/i,
  validation: /(^|[^a-z])(validation|valid|dev|val)([^a-z]|$)/i,
  test: /(^|[^a-z])test([^a-z]|$)/i,
};

function howToGet(task: TaskSpec): string {
  return `Get it with \`tsx experiments/run.ts data fetch ${task.name}\` (needs access to the Hugging Face hub) or \`tsx experiments/run.ts data import ${task.name} <file-or-folder>\`; see datasets/README.md`;
}

/** The task's folder (first existing of dirNames, then a fallback's) and the layouts that apply to it. */
export function resolveTaskDir(
  task: TaskSpec,
  dataDir: string,
): { dir: string; layouts: readonly DataLayout[]; note?: string } {
  task.prepare?.(dataDir);
  for (const name of task.dirNames) {
    const dir = path.join(dataDir, name);
    if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) return { dir, layouts: task.layouts };
  }
  if (task.outputType === "train_only" && task.fallback) {
    for (const name of task.fallback.dirNames) {
      const dir = path.join(dataDir, name);
      if (fs.existsSync(dir)) return { dir, layouts: task.fallback.layouts, note: task.fallback.note };
    }
  }
  const looked = [
    ...task.dirNames,
    ...(task.outputType === "train_only" && task.fallback ? task.fallback.dirNames : []),
  ].map((n) => path.join(dataDir, n));
  throw new MissingDataError(`no data for task "${task.name}": none of ${looked.join(", ")} exists. ${howToGet(task)}`);
}

/** Which file(s) hold `split` of `task` under dataDir. */
export function locateSplit(task: TaskSpec, split: SplitName, dataDir: string): { files: SplitFile[]; note?: string } {
  const { dir, layouts, note } = resolveTaskDir(task, dataDir);
  for (const l of layouts) {
    if (l.split !== split) continue;
    const file = path.join(dir, l.path);
    if (fs.existsSync(file))
      return { files: [{ file, format: l.format, labels: l.labels ? path.join(dir, l.labels) : undefined }], note };
  }
  const discovered = discoverSplitFiles(dir, split, new Set(layouts.map((l) => path.join(dir, l.path))));
  if (discovered.length > 0) return { files: discovered, note };
  const known = layouts.filter((l) => l.split === split).map((l) => l.path);
  throw new MissingDataError(
    `no "${split}" split of "${task.name}" in ${dir}: looked for ${known.length ? known.join(", ") + ", then " : ""}hub-style files whose path names the split (*${split === "validation" ? "validation|dev|val" : split}*.parquet|jsonl|json). ${howToGet(task)}`,
  );
}

/** Hub layouts: files under dir whose relative path names the split; shards (-00000-of-00002, 0000.parquet) grouped. */
function discoverSplitFiles(dir: string, split: SplitName, exclude: Set<string>): SplitFile[] {
  const found: SplitFile[] = [];
  for (const file of walk(dir, 4)) {
    if (exclude.has(file)) continue;
    const rel = path.relative(dir, file);
    const format = formatOf(rel);
    if (format === null || format === "hellaswag-text" || /manifest\.json$/i.test(rel)) continue;
    if (!SPLIT_PATTERNS[split].test(rel.replace(/\.[a-z]+$/i, ""))) continue;
    found.push({ file, format });
  }
  const groups = new Set(
    found.map((f) =>
      path
        .relative(dir, f.file)
        .replace(/-\d+-of-\d+(?=\.[a-z]+$)/i, "")
        .replace(/[/\\]\d+\.parquet$/i, ""),
    ),
  );
  if (groups.size > 1) {
    throw new DataFileError(
      `${dir}: several files look like the "${split}" split (${[...groups].join(", ")}); keep one of them, or move the others out of the folder`,
    );
  }
  return found.sort((a, b) => a.file.localeCompare(b.file));
}

function* walk(dir: string, depth: number): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0 && !e.name.startsWith(".")) yield* walk(p, depth - 1);
    else if (e.isFile()) yield p;
  }
}

/** Read and validate every row of a split. Errors name the file and line. */
export async function loadDocs<Doc = unknown>(
  taskOrName: TaskSpec<Doc> | string,
  split: SplitName,
  dataDir: string,
): Promise<LoadedSplit<Doc>> {
  const task = (typeof taskOrName === "string" ? getTask(taskOrName) : taskOrName) as TaskSpec<Doc>;
  const { files, note } = locateSplit(task, split, dataDir);
  const docs: Doc[] = [];
  for (const f of files) {
    for (const { row, where } of await readRows(f.file, f.format, f.labels)) docs.push(task.processDoc(row, where));
  }
  return { task: task.name, split, docs, files: files.map((f) => f.file), note };
}

/**
 * Seeded subsample of `limit` indices out of n, in ascending order (documents keep their file order). All indices
 * when limit is null/undefined or ≥ n. Unlike lm-eval's --limit (the first N docs), this is a uniform sample.
 */
export function subsampleIndices(n: number, limit: number | null | undefined, rng: Rng): number[] {
  if (limit === null || limit === undefined || limit >= n) return Array.from({ length: n }, (_, i) => i);
  if (!(Number.isInteger(limit) && limit > 0)) throw new Error(`limit must be a positive integer, got ${limit}`);
  return rng
    .permutation(n)
    .slice(0, limit)
    .sort((a, b) => a - b);
}

export interface TrainExamplesResult {
  readonly examples: TrainExample[];
  /** Files read, and notes (fallbacks) — for the run's provenance. */
  readonly files: string[];
  readonly notes: string[];
}

/**
 * Training examples of a task's train split ({context, continuation} built by toTrainingExample), or of all five QA
 * tasks interleaved by a seeded shuffle for "merged_qa". `limit` is a seeded subsample (of the merged stream for
 * merged_qa, so the mixture follows the dataset sizes).
 */
export async function loadTrainExamples(
  name: string,
  dataDir: string,
  opts: { limit?: number | null; seed: number },
): Promise<TrainExamplesResult> {
  if (name === MERGED_QA) {
    const examples: TrainExample[] = [];
    const files: string[] = [];
    const notes: string[] = [];
    for (const t of QA_TASK_NAMES) {
      const r = await loadTrainExamples(t, dataDir, { seed: opts.seed });
      examples.push(...r.examples);
      files.push(...r.files);
      notes.push(...r.notes);
    }
    Rng.derive(opts.seed, `${MERGED_QA}/shuffle`).shuffle(examples);
    return { examples: opts.limit ? examples.slice(0, opts.limit) : examples, files, notes };
  }
  const task = getTask(name);
  const split = task.splits.train;
  if (!split) throw new MissingDataError(`task "${task.name}" has no training split`);
  const loaded = await loadDocs(task, split, dataDir);
  const idx = subsampleIndices(loaded.docs.length, opts.limit, Rng.derive(opts.seed, `${task.name}/${split}/limit`));
  return {
    examples: idx.map((i) => toTrainingExample(task, loaded.docs[i])),
    files: [...loaded.files],
    notes: loaded.note ? [loaded.note] : [],
  };
}

export async function trainExamples(
  name: string,
  dataDir: string,
  opts: { limit?: number | null; seed: number },
): Promise<TrainExample[]> {
  return (await loadTrainExamples(name, dataDir, opts)).examples;
}
