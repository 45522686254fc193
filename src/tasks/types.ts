// TaskSpec: one declarative description per benchmark, in lm-evaluation-harness's vocabulary (doc_to_text,
// doc_to_choice, doc_to_target, target_delimiter, process_docs, output_type, metric_list, filter_list,
// generation_kwargs.until). Docs are kept in the HF hub schema the lm-eval YAML refers to, so each docToText reads
// like its YAML line. The same spec builds training examples (toTrainingExample), so training and evaluation
// prompts cannot drift apart.

export const TASK_NAMES = [
  "hellaswag",
  "social_iqa",
  "openbookqa",
  "arc_easy",
  "arc_challenge",
  "gsm8k",
  "gsm8k_lm_eval",
  "metamathqa",
  "synthetic",
] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** The five multiple-choice QA tasks pooled by `merged_qa` training (the paper's ablation setting). */
export const QA_TASK_NAMES = [
  "hellaswag",
  "social_iqa",
  "openbookqa",
  "arc_easy",
  "arc_challenge",
] as const satisfies readonly TaskName[];

export type SplitName = "train" | "validation" | "test";
export const SPLIT_NAMES: readonly SplitName[] = ["train", "validation", "test"];

export type OutputType = "multiple_choice" | "generate_until" | "train_only";
export type MetricName = "acc" | "acc_norm" | "exact_match";
export type FilterName = "strict-match" | "flexible-extract";

/** A row as read from a file, before processDocs. `where` is "file:line" (or "file#index") for error messages. */
export type RawRow = Record<string, unknown>;

/**
 * lm-eval's `loglikelihood` request, the unit tasks produce and models score or train on:
 * ids = encode(context, special tokens on) ++ encode(continuation, special tokens off).
 */
export interface LoglikelihoodRequest {
  readonly context: string;
  readonly continuation: string;
}

/** A training example: lm-eval's loglikelihood request shape, plus where it came from. */
export interface TrainExample extends LoglikelihoodRequest {
  readonly task: TaskName;
  readonly docId: string;
}

/** Where a split's rows live inside `<dataDir>/<task>/`, in priority order. */
export interface DataLayout {
  readonly split: SplitName;
  /** Path relative to the task folder. */
  readonly path: string;
  readonly format: FileFormat;
  /** For "jsonl+labels": the labels file (one label per line, line i ↔ row i). */
  readonly labels?: string;
}
export type FileFormat = "jsonl" | "json" | "parquet" | "jsonl+labels" | "hellaswag-text";

/** Where `data fetch` gets a task from on the Hugging Face hub. */
export interface HubSource {
  readonly repo: string;
  /** Only files under this folder of the repo (a dataset config, e.g. "ARC-Easy"). */
  readonly folder?: string;
  /** Revisions to try in order; script-based datasets keep parquet only on "refs/convert/parquet". */
  readonly revisions: readonly string[];
  readonly licence: string;
}

interface TaskSpecBase<Doc> {
  readonly name: TaskName;
  readonly description: string;
  /** Folder names under the data dir, first is canonical (fetch/import write there); others are accepted aliases. */
  readonly dirNames: readonly string[];
  /** Known file layouts (the original authors' files); hub layouts are discovered by file name. */
  readonly layouts: readonly DataLayout[];
  readonly hub?: HubSource;
  readonly splits: { readonly train?: SplitName; readonly eval?: SplitName; readonly fewshot?: SplitName };
  /**
   * lm-eval process_docs, per row: any supported source schema → the task's doc. Throws DataFileError naming
   * `where` for a missing field or an out-of-range label.
   */
  readonly processDoc: (row: RawRow, where: string) => Doc;
  readonly docId: (doc: Doc) => string;
  readonly docToText: (doc: Doc) => string;
  readonly targetDelimiter: string;
  /** Between few-shot examples and before the query (lm-eval default "\n\n"). */
  readonly fewshotDelimiter: string;
  readonly defaultNumFewshot: number;
  /** Make the data available under dataDir before it is located (generated tasks, e.g. synthetic). */
  readonly prepare?: (dataDir: string) => void;
}

export interface MultipleChoiceTask<Doc = unknown> extends TaskSpecBase<Doc> {
  readonly outputType: "multiple_choice";
  readonly docToChoice: (doc: Doc) => string[];
  /** Index of the gold choice. */
  readonly docToTarget: (doc: Doc) => number;
  readonly metrics: readonly MetricName[];
}

export interface GenerateTask<Doc = unknown> extends TaskSpecBase<Doc> {
  readonly outputType: "generate_until";
  /** The target text (few-shot examples and training continuations use it). */
  readonly docToTarget: (doc: Doc) => string;
  /** The gold final answer, before normalisation (e.g. "1,234"). */
  readonly docToAnswer: (doc: Doc) => string;
  readonly metrics: readonly ["exact_match"];
  /** Named answer-extraction pipelines (see src/eval/filters.ts). */
  readonly filters: readonly FilterName[];
  /** Which strict-match regex family and number normalisation to use. */
  readonly answerStyle: "lm-eval" | "metamath";
  readonly generation: { readonly until: readonly string[]; readonly maxNewTokens: number };
}

export interface TrainOnlyTask<Doc = unknown> extends TaskSpecBase<Doc> {
  readonly outputType: "train_only";
  readonly docToTarget: (doc: Doc) => string;
  /** Used when none of `dirNames` exists: another task's folder whose rows processDoc also accepts. */
  readonly fallback?: {
    readonly dirNames: readonly string[];
    readonly layouts: readonly DataLayout[];
    readonly note: string;
  };
}

// Doc defaults to `any`, not `unknown`: a registry holds tasks of different Doc types, and a spec whose functions
// take one Doc type is not assignable to one whose functions take `unknown` (parameters are contravariant).
export type TaskSpec<Doc = any> = MultipleChoiceTask<Doc> | GenerateTask<Doc> | TrainOnlyTask<Doc>;

/**
 * The training example of a doc: context = docToText(doc), continuation = targetDelimiter + the correct choice
 * (multiple choice) or the target text (generation / train-only). Exactly the string pair evaluation scores.
 */
export function toTrainingExample<Doc>(task: TaskSpec<Doc>, doc: Doc): TrainExample {
  const context = task.docToText(doc);
  let target: string;
  if (task.outputType === "multiple_choice") {
    const choices = task.docToChoice(doc);
    target = choices[task.docToTarget(doc)]!;
  } else {
    target = task.docToTarget(doc);
  }
  return { task: task.name, docId: task.docId(doc), context, continuation: task.targetDelimiter + target };
}
