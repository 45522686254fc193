// OpenBookQA (Mihaylov et al., EMNLP 2018), main config, as lm-evaluation-harness's tasks/openbookqa/openbookqa.yaml:
// doc_to_text question_stem, doc_to_choice "{{choices.text}}", doc_to_target
// "{{choices.label.index(answerKey.lstrip())}}", metrics acc and acc_norm. The fact-free "main" setting: the
// open book (fact1) is not shown. Train on train, evaluate on test (lm-eval's test_split), configurable.
import { goldIndex, readAi2Row, type Ai2Doc } from "./ai2-qa.ts";
import type { MultipleChoiceTask } from "./types.ts";

export const openbookqa: MultipleChoiceTask<Ai2Doc> = {
  name: "openbookqa",
  description: "OpenBookQA elementary science (4 choices, main config); lm-eval openbookqa.yaml",
  outputType: "multiple_choice",
  dirNames: ["openbookqa"],
  layouts: [
    { split: "train", path: "Main/train.jsonl", format: "jsonl" },
    { split: "validation", path: "Main/dev.jsonl", format: "jsonl" },
    { split: "test", path: "Main/test.jsonl", format: "jsonl" },
  ],
  hub: {
    repo: "allenai/openbookqa",
    folder: "main",
    revisions: ["main"],
    licence: "Apache-2.0 (per the hub card; not checked here)",
  },
  splits: { train: "train", eval: "test", fewshot: "train" },
  processDoc: (row, where) => readAi2Row(row, where, "question_stem"),
  docId: (d) => d.id,
  docToText: (d) => d.question,
  docToChoice: (d) => d.choices.text,
  docToTarget: (d) => goldIndex(d),
  targetDelimiter: " ",
  fewshotDelimiter: "\n\n",
  defaultNumFewshot: 0,
  metrics: ["acc", "acc_norm"],
};
