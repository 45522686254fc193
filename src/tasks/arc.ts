// ARC-Easy and ARC-Challenge (Clark et al., 2018) as lm-evaluation-harness's tasks/arc/arc_easy.yaml (arc_challenge.yaml
// includes it): doc_to_text "Question: {{question}}\nAnswer:", doc_to_choice "{{choices.text}}", doc_to_target
// "{{choices.label.index(answerKey)}}", metrics acc and acc_norm. Train on train (offline only in LLM-Adapters'
// instruction format), evaluate on test (lm-eval's test_split), configurable.
import { goldIndex, readAi2Row, type Ai2Doc } from "./ai2-qa.ts";
import type { MultipleChoiceTask, TaskName } from "./types.ts";

function arcTask(
  name: TaskName & ("arc_easy" | "arc_challenge"),
  config: "ARC-Easy" | "ARC-Challenge",
): MultipleChoiceTask<Ai2Doc> {
  return {
    name,
    description: `${config} grade-school science (3–5 choices); lm-eval ${name}.yaml`,
    outputType: "multiple_choice",
    dirNames: [name],
    layouts: [
      { split: "train", path: `${config}-Train.jsonl`, format: "jsonl" },
      { split: "train", path: "llm-adapters/train.json", format: "json" },
      { split: "validation", path: `${config}-Dev.jsonl`, format: "jsonl" },
      { split: "test", path: `${config}-Test.jsonl`, format: "jsonl" },
      { split: "test", path: "llm-adapters/test.json", format: "json" },
    ],
    hub: { repo: "allenai/ai2_arc", folder: config, revisions: ["main"], licence: "CC BY-SA 4.0 (per the hub card)" },
    splits: { train: "train", eval: "test", fewshot: "train" },
    processDoc: (row, where) => readAi2Row(row, where, "question"),
    docId: (d) => d.id,
    docToText: (d) => `Question: ${d.question}\nAnswer:`,
    docToChoice: (d) => d.choices.text,
    docToTarget: (d) => goldIndex(d),
    targetDelimiter: " ",
    fewshotDelimiter: "\n\n",
    defaultNumFewshot: 0,
    metrics: ["acc", "acc_norm"],
  };
}

export const arcEasy = arcTask("arc_easy", "ARC-Easy");
export const arcChallenge = arcTask("arc_challenge", "ARC-Challenge");
