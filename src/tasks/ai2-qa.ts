// AI2's multiple-choice science QA schema, shared by OpenBookQA and ARC, read from three layouts into the HF hub
// schema that lm-eval's YAML refers to ({id, question|question_stem, choices: {text[], label[]}, answerKey}):
//  - AI2's original JSONL: {id, question: {stem, choices: [{text, label}]}, answerKey}
//  - the hub's parquet/JSONL (allenai/ai2_arc, allenai/openbookqa): already in that schema
//  - LLM-Adapters' instruction JSON (ARC train exists offline only in it): {instruction, input, output, answer}
// ARC answer keys may be letters or digits and items have 3–5 choices: the gold is answerKey's index in the labels.
import { DataFileError, obj, shortWhere, str, strArray } from "./readers.ts";
import type { RawRow } from "./types.ts";

export interface Ai2Doc {
  readonly id: string;
  /** The question text: ARC's `question`, OpenBookQA's `question_stem`. */
  readonly question: string;
  readonly choices: { readonly text: string[]; readonly label: string[] };
  readonly answerKey: string;
}

const LLM_ADAPTERS_PREFIX = "Please choose the correct answer to the question: ";

/** Any supported layout → Ai2Doc, validated (answerKey must be one of the labels). */
export function readAi2Row(row: RawRow, where: string, questionField: "question" | "question_stem"): Ai2Doc {
  let doc: Ai2Doc;
  if (typeof row.instruction === "string" && typeof row.answer === "string") {
    doc = fromLlmAdapters(row, where);
  } else if (row.question !== null && typeof row.question === "object") {
    // AI2 original: question.stem + question.choices[{text, label}]
    const q = obj(row, "question", where);
    const stem = str(q, "stem", `${where} question`);
    const list = q.choices;
    if (!Array.isArray(list) || list.length < 2)
      throw new DataFileError(
        `${where}: field "question.choices" must be an array of at least 2 {text, label} objects`,
      );
    const text: string[] = [];
    const label: string[] = [];
    list.forEach((c, i) => {
      if (c === null || typeof c !== "object")
        throw new DataFileError(`${where}: question.choices[${i}] must be an object {text, label}`);
      text.push(str(c as RawRow, "text", `${where} question.choices[${i}]`));
      label.push(str(c as RawRow, "label", `${where} question.choices[${i}]`));
    });
    doc = { id: idOf(row, where), question: stem, choices: { text, label }, answerKey: str(row, "answerKey", where) };
  } else {
    // HF hub schema.
    const question = str(row, questionField, where);
    const choices = obj(row, "choices", where);
    const text = strArray(choices, "text", `${where} choices`, 2);
    const label = strArray(choices, "label", `${where} choices`, 2);
    if (text.length !== label.length)
      throw new DataFileError(
        `${where}: choices.text has ${text.length} entries but choices.label has ${label.length}`,
      );
    doc = { id: idOf(row, where), question, choices: { text, label }, answerKey: str(row, "answerKey", where) };
  }
  goldIndex(doc, where);
  return doc;
}

/** lm-eval: choices.label.index(answerKey.lstrip()) (openbookqa.yaml) / .index(answerKey) (arc_easy.yaml). */
export function goldIndex(doc: Ai2Doc, where = doc.id): number {
  const i = doc.choices.label.indexOf(doc.answerKey.trimStart());
  if (i < 0)
    throw new DataFileError(
      `${where}: answerKey "${doc.answerKey}" is not one of the choice labels [${doc.choices.label.join(", ")}]`,
    );
  return i;
}

function idOf(row: RawRow, where: string): string {
  return typeof row.id === "string" ? row.id : shortWhere(where);
}

/**
 * LLM-Adapters: "Please choose the correct answer to the question: <stem>\n\nAnswer1: <c1> Answer2: <c2> …\n\n
 * Answer format: answer1/answer2/…", answer "answerN" (1-based). Ids are not kept (the doc id is file#index);
 * labels become A, B, C, …
 */
function fromLlmAdapters(row: RawRow, where: string): Ai2Doc {
  const instruction = str(row, "instruction", where);
  if (!instruction.startsWith(LLM_ADAPTERS_PREFIX))
    throw new DataFileError(
      `${where}: "instruction" does not start with "${LLM_ADAPTERS_PREFIX}"; not an LLM-Adapters multiple-choice row`,
    );
  const body = instruction.slice(LLM_ADAPTERS_PREFIX.length);
  const a1 = body.indexOf("\n\nAnswer1: ");
  const fmt = body.lastIndexOf("\n\nAnswer format: ");
  if (a1 < 0 || fmt < a1)
    throw new DataFileError(
      `${where}: "instruction" lacks "\\n\\nAnswer1: …\\n\\nAnswer format: …"; cannot parse the choices`,
    );
  const stem = body.slice(0, a1);
  const parts = body.slice(a1 + "\n\nAnswer1: ".length, fmt).split(/ Answer(\d+): /);
  const text = [parts[0]!];
  for (let k = 1; k < parts.length; k += 2) {
    if (Number(parts[k]) !== text.length + 1)
      throw new DataFileError(`${where}: choices are not numbered Answer1, Answer2, … in order`);
    text.push(parts[k + 1]!);
  }
  const declared = body.slice(fmt + "\n\nAnswer format: ".length).split("/").length;
  if (declared !== text.length)
    throw new DataFileError(`${where}: parsed ${text.length} choices but "Answer format" lists ${declared}`);
  const answer = str(row, "answer", where);
  const m = /^answer(\d+)$/.exec(answer.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 1 && n <= text.length))
    throw new DataFileError(
      `${where}: label "answer" = "${answer}" is out of range; it must be answer1..answer${text.length}`,
    );
  const label = text.map((_, i) => String.fromCharCode(65 + i));
  return { id: shortWhere(where), question: stem, choices: { text, label }, answerKey: label[n - 1]! };
}
