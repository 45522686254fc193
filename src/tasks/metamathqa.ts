// MetaMathQA (Yu et al., 2023; meta-math/MetaMathQA, 395K rows, MIT): training only, query → response, responses end
// "The answer is: X". The prompt is the gsm8k task's MetaMath prompt, so an adapter trained here is evaluated by
// `gsm8k` with the very same context. The hub file is MetaMathQA-395K.json (a JSON array); parquet/JSONL work too.
// Offline stand-in: when no metamathqa folder exists, GSM8K train (7473 rows; MetaMathQA's GSM_* rows augment exactly
// these questions) is converted to the response style ("#### N\nThe answer is: N", calculator annotations removed).
import { readGsm8kRow, metamathPrompt, toMetaMathResponse, GSM8K_LAYOUTS } from "./gsm8k.ts";
import { shortWhere, str } from "./readers.ts";
import type { RawRow, TrainOnlyTask } from "./types.ts";

export interface MetaMathDoc {
  readonly id: string;
  readonly query: string;
  readonly response: string;
  /** MetaMathQA's augmentation type (GSM_AnsAug, MATH_FOBAR, …) or "GSM8K_train" for the stand-in. */
  readonly type: string;
}

function processDoc(row: RawRow, where: string): MetaMathDoc {
  if ("query" in row || "response" in row) {
    return {
      id: shortWhere(where),
      query: str(row, "query", where),
      response: str(row, "response", where),
      type: typeof row.type === "string" ? row.type : "",
    };
  }
  const g = readGsm8kRow(row, where);
  return { id: g.id, query: g.question, response: toMetaMathResponse(g.answer, where), type: "GSM8K_train" };
}

export const metamathqa: TrainOnlyTask<MetaMathDoc> = {
  name: "metamathqa",
  description:
    "MetaMathQA math CoT training set (train only; offline stand-in: GSM8K train in MetaMath response style)",
  outputType: "train_only",
  dirNames: ["metamathqa"],
  layouts: [{ split: "train", path: "MetaMathQA-395K.json", format: "json" }],
  hub: { repo: "meta-math/MetaMathQA", revisions: ["main"], licence: "MIT" },
  fallback: {
    dirNames: ["gsm8k"],
    layouts: GSM8K_LAYOUTS.filter((l) => l.split === "train"),
    note: "MetaMathQA not found; using GSM8K train converted to MetaMath response style as the offline stand-in",
  },
  splits: { train: "train" },
  processDoc,
  docId: (d) => d.id,
  docToText: (d) => metamathPrompt(d.query),
  docToTarget: (d) => d.response,
  targetDelimiter: " ",
  fewshotDelimiter: "\n\n",
  defaultNumFewshot: 0,
};
