// SocialIQa (Sap et al., EMNLP 2019) as lm-evaluation-harness's tasks/siqa/siqa.yaml:
// doc_to_text "Q: {{context}} {{question}}\nA:", target_delimiter " ", doc_to_choice [answerA, answerB, answerC],
// doc_to_target "{{ (label|int) - 1 }}". lm-eval lists only acc; acc_norm comes from the same requests and is
// reported too. Train on train, evaluate on validation (AI2's dev; the test labels are not public).
// Sources: AI2's socialiqa-train-dev (JSONL + parallel *-labels.lst, labels 1/2/3) or the hub's allenai/social_i_qa.
import { intLabel, shortWhere, str } from "./readers.ts";
import type { MultipleChoiceTask, RawRow } from "./types.ts";

export interface SocialIqaDoc {
  readonly id: string;
  readonly context: string;
  readonly question: string;
  readonly answerA: string;
  readonly answerB: string;
  readonly answerC: string;
  /** "1" | "2" | "3" as in the data; checked on read. */
  readonly label: number;
}

function processDoc(row: RawRow, where: string): SocialIqaDoc {
  return {
    id: typeof row.id === "string" ? row.id : shortWhere(where),
    context: str(row, "context", where),
    question: str(row, "question", where),
    answerA: str(row, "answerA", where),
    answerB: str(row, "answerB", where),
    answerC: str(row, "answerC", where),
    label: intLabel(row, "label", where, 1, 3),
  };
}

export const socialIqa: MultipleChoiceTask<SocialIqaDoc> = {
  name: "social_iqa",
  description: "SocialIQa social commonsense QA (3 answers); lm-eval siqa.yaml",
  outputType: "multiple_choice",
  dirNames: ["social_iqa", "siqa"],
  layouts: [
    { split: "train", path: "train.jsonl", format: "jsonl+labels", labels: "train-labels.lst" },
    { split: "validation", path: "dev.jsonl", format: "jsonl+labels", labels: "dev-labels.lst" },
  ],
  hub: {
    repo: "allenai/social_i_qa",
    revisions: ["main", "refs/convert/parquet"],
    licence: "unknown (AI2; check before redistributing)",
  },
  splits: { train: "train", eval: "validation", fewshot: "train" },
  processDoc,
  docId: (d) => d.id,
  docToText: (d) => `Q: ${d.context} ${d.question}\nA:`,
  docToChoice: (d) => [d.answerA, d.answerB, d.answerC],
  docToTarget: (d) => d.label - 1,
  targetDelimiter: " ",
  fewshotDelimiter: "\n\n",
  defaultNumFewshot: 0,
  metrics: ["acc", "acc_norm"],
};
