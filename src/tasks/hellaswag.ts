// HellaSwag (Zellers et al., ACL 2019) as lm-evaluation-harness's tasks/hellaswag/hellaswag.yaml + utils.py:
// process_docs builds query = preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()) and
// choices = preprocess(endings); doc_to_text "{{query}}", doc_to_choice "choices", doc_to_target "{{label}}".
// Train on train, evaluate on validation (the test labels are hidden).
// klosax's val text file is already cleaned by the same preprocess, so its rows are NOT preprocessed again. One
// known difference: its query keeps ctx_b lower-case ("… roof. he" where lm-eval has "… roof. He"), so scores on it
// can differ slightly from lm-eval; `data fetch hellaswag` gets the hub parquet, which is processed exactly.
import { intLabel, shortWhere, str, strArray } from "./readers.ts";
import type { MultipleChoiceTask, RawRow } from "./types.ts";

export interface HellaswagDoc {
  readonly id: string;
  readonly query: string;
  readonly choices: string[];
  readonly label: number;
}

/** lm-eval's hellaswag preprocess: strip, " [title]" → ". ", drop "[...]" markers, collapse double spaces once. */
export function preprocess(text: string): string {
  let t = text.trim();
  t = t.replaceAll(" [title]", ". ");
  t = t.replace(/\[.*?\]/g, "");
  t = t.replaceAll("  ", " "); // Python str.replace: one left-to-right pass, non-overlapping
  return t;
}

/** Python's str.capitalize(): first character upper-case, the rest lower-case. */
export function capitalize(s: string): string {
  return s.length === 0 ? s : s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
}

function processDoc(row: RawRow, where: string): HellaswagDoc {
  if (row.preprocessed === true) {
    // klosax text row (readHellaswagText): already cleaned.
    const choices = strArray(row, "choices", where, 2);
    return {
      id: String(row.ind),
      query: str(row, "query", where),
      choices,
      label: intLabel(row, "label", where, 0, choices.length - 1),
    };
  }
  // Original rowanz JSONL or the hub's Rowan/hellaswag schema.
  const endings = strArray(row, "endings", where, 2);
  const ctx = str(row, "ctx_a", where) + " " + capitalize(str(row, "ctx_b", where));
  const label = intLabel(row, "label", where, 0, endings.length - 1);
  const ind = row.ind ?? shortWhere(where);
  return {
    id: String(ind),
    query: preprocess(str(row, "activity_label", where) + ": " + ctx),
    choices: endings.map(preprocess),
    label,
  };
}

export const hellaswag: MultipleChoiceTask<HellaswagDoc> = {
  name: "hellaswag",
  description: "HellaSwag commonsense sentence completion (4 endings); lm-eval hellaswag.yaml",
  outputType: "multiple_choice",
  dirNames: ["hellaswag"],
  layouts: [
    { split: "train", path: "hellaswag_train.jsonl", format: "jsonl" },
    { split: "validation", path: "hellaswag_val.jsonl", format: "jsonl" },
    { split: "validation", path: "hellaswag_val_full.txt", format: "hellaswag-text" },
    { split: "test", path: "hellaswag_test.jsonl", format: "jsonl" },
  ],
  hub: { repo: "Rowan/hellaswag", revisions: ["main", "refs/convert/parquet"], licence: "MIT" },
  splits: { train: "train", eval: "validation", fewshot: "train" },
  processDoc,
  docId: (d) => d.id,
  docToText: (d) => d.query,
  docToChoice: (d) => d.choices,
  docToTarget: (d) => d.label,
  targetDelimiter: " ",
  fewshotDelimiter: "\n\n",
  defaultNumFewshot: 0,
  metrics: ["acc", "acc_norm"],
};
