// GSM8K (Cobbe et al., 2021), greedy generation scored by exact match of the final number. Two prompt variants:
//  - gsm8k (default, the paper's setting: fine-tune on MetaMathQA, test zero-shot): MetaMath's eval_gsm8k.py prompt
//    "Below is an instruction … ### Instruction:\n{q}\n\n### Response: Let's think step by step.", its stop strings
//    and 512 new tokens; strict-match also accepts "The answer is: N" (answer style "metamath", see eval/filters.ts).
//    Deliberate difference from MetaMath: its training prompt omits "Let's think step by step."; ours trains with the
//    exact evaluation prompt so training and evaluation cannot drift.
//  - gsm8k_lm_eval: lm-evaluation-harness's tasks/gsm8k/gsm8k.yaml: "Question: {{question}}\nAnswer:", target
//    "{{answer}}", 5-shot from train, until ["Question:", "</s>", "<|im_end|>"], filters strict-match/flexible-extract.
//    Its few-shot examples are drawn with our seeded Rng, so the shots differ from lm-eval's (Python random, seed 1234).
import { DataFileError, str } from "./readers.ts";
import { shortWhere } from "./readers.ts";
import type { DataLayout, GenerateTask, HubSource, RawRow } from "./types.ts";

export interface Gsm8kDoc {
  readonly id: string;
  readonly question: string;
  /** The worked solution with calculator annotations, ending "#### N". */
  readonly answer: string;
}

export const METAMATH_PROMPT_PREFIX =
  "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n";
/** MetaMath's zero-shot GSM8K prompt (eval_gsm8k.py `problem_prompt`). */
export function metamathPrompt(query: string): string {
  return `${METAMATH_PROMPT_PREFIX}${query}\n\n### Response: Let's think step by step.`;
}

/** The final answer after the last "#### " (GSM8K's answer format). */
export function finalAnswer(answer: string, where: string): string {
  const i = answer.lastIndexOf("#### ");
  if (i < 0) throw new DataFileError(`${where}: field "answer" has no "#### <number>" final line`);
  const a = answer
    .slice(i + 5)
    .split("\n")[0]!
    .trim();
  if (!a) throw new DataFileError(`${where}: field "answer" has an empty "#### " final line`);
  return a;
}

/**
 * GSM8K solution → MetaMathQA response style (as its GSM_AnsAug rows): calculator annotations "<<48/2=24>>" removed,
 * the "#### N" line kept and "The answer is: N" appended.
 */
export function toMetaMathResponse(answer: string, where = "answer"): string {
  const n = finalAnswer(answer, where);
  return `${answer.replace(/<<[^>]*>>/g, "").trimEnd()}\nThe answer is: ${n}`;
}

export function readGsm8kRow(row: RawRow, where: string): Gsm8kDoc {
  // openai/grade-school-math and the hub's openai/gsm8k: {question, answer}; MetaMath's GSM8K_test.jsonl: {query, response}.
  const question = "question" in row ? str(row, "question", where) : str(row, "query", where);
  const answer = "answer" in row || !("response" in row) ? str(row, "answer", where) : str(row, "response", where);
  finalAnswer(answer, where);
  return { id: shortWhere(where), question, answer };
}

export const GSM8K_LAYOUTS: readonly DataLayout[] = [
  { split: "train", path: "train.jsonl", format: "jsonl" },
  { split: "test", path: "test.jsonl", format: "jsonl" },
  { split: "test", path: "GSM8K_test.jsonl", format: "jsonl" },
];
const GSM8K_HUB: HubSource = { repo: "openai/gsm8k", folder: "main", revisions: ["main"], licence: "MIT" };

/** MetaMath's eval_gsm8k.py stop strings. */
const METAMATH_STOP = [
  "Question:",
  "Question",
  "USER:",
  "USER",
  "ASSISTANT:",
  "ASSISTANT",
  "Instruction:",
  "Instruction",
  "Response:",
  "Response",
];

export const gsm8k: GenerateTask<Gsm8kDoc> = {
  name: "gsm8k",
  description:
    "GSM8K grade-school math, zero-shot with the MetaMath/Alpaca prompt (the paper's MetaMathQA → GSM8K setting)",
  outputType: "generate_until",
  dirNames: ["gsm8k"],
  layouts: GSM8K_LAYOUTS,
  hub: GSM8K_HUB,
  splits: { train: "train", eval: "test", fewshot: "train" },
  processDoc: readGsm8kRow,
  docId: (d) => d.id,
  docToText: (d) => metamathPrompt(d.question),
  // Training continuation in MetaMathQA's response style, so gsm8k train is the offline stand-in for MetaMathQA.
  docToTarget: (d) => toMetaMathResponse(d.answer, d.id),
  docToAnswer: (d) => finalAnswer(d.answer, d.id),
  targetDelimiter: " ",
  fewshotDelimiter: "\n\n",
  defaultNumFewshot: 0,
  metrics: ["exact_match"],
  filters: ["strict-match", "flexible-extract"],
  answerStyle: "metamath",
  generation: { until: METAMATH_STOP, maxNewTokens: 512 },
};

export const gsm8kLmEval: GenerateTask<Gsm8kDoc> = {
  name: "gsm8k_lm_eval",
  description: 'GSM8K in lm-eval\'s gsm8k.yaml format ("Question: …\\nAnswer:", 5-shot, strict/flexible filters)',
  outputType: "generate_until",
  dirNames: ["gsm8k"],
  layouts: GSM8K_LAYOUTS,
  hub: GSM8K_HUB,
  splits: { train: "train", eval: "test", fewshot: "train" },
  processDoc: readGsm8kRow,
  docId: (d) => d.id,
  docToText: (d) => `Question: ${d.question}\nAnswer:`,
  docToTarget: (d) => d.answer,
  docToAnswer: (d) => finalAnswer(d.answer, d.id),
  targetDelimiter: " ",
  fewshotDelimiter: "\n\n",
  defaultNumFewshot: 5,
  metrics: ["exact_match"],
  filters: ["strict-match", "flexible-extract"],
  answerStyle: "lm-eval",
  // lm-eval's default max_gen_toks is 256.
  generation: { until: ["Question:", "</s>", "<|im_end|>"], maxNewTokens: 256 },
};
