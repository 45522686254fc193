// Golden prompts: for 3 docs of each task (real files in ../shared/datasets; skipped when absent) the exact
// context/continuation strings, written by hand from lm-evaluation-harness's task YAML (cited per task) applied to
// the raw rows, and from MetaMath's eval_gsm8k.py for the gsm8k prompt. Also the registry and HellaSwag preprocessing.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  getTask,
  loadDocs,
  toTrainingExample,
  trainExamples,
  TASK_NAMES,
  UnknownTaskError,
  type SplitName,
} from "./index.ts";
import { capitalize, preprocess } from "./hellaswag.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DATA = path.resolve(repoRoot, "../shared/datasets");
const haveData = fs.existsSync(DATA);

async function pairsOf(task: string, split: SplitName, ids: (doc: unknown, i: number) => boolean, n = 3) {
  const { docs } = await loadDocs(task, split, DATA);
  return docs
    .filter(ids)
    .slice(0, n)
    .map((d) => toTrainingExample(getTask(task), d))
    .map(({ context, continuation }) => ({ context, continuation }));
}
const firstN = () => true;

test("registry: lm-eval names, unknown name lists the known ones", () => {
  assert.deepEqual([...TASK_NAMES].slice(0, 6), [
    "hellaswag",
    "social_iqa",
    "openbookqa",
    "arc_easy",
    "arc_challenge",
    "gsm8k",
  ]);
  for (const n of TASK_NAMES) assert.equal(getTask(n).name, n);
  assert.throws(
    () => getTask("hellaswagg"),
    (e: Error) =>
      e instanceof UnknownTaskError &&
      /unknown task "hellaswagg"/.test(e.message) &&
      /arc_challenge/.test(e.message) &&
      /merged_qa/.test(e.message),
  );
  assert.throws(() => getTask("siqa"), /social_iqa/);
});

test("hellaswag preprocess = lm-eval tasks/hellaswag/utils.py preprocess, capitalize = Python str.capitalize", () => {
  // " [title]" → ". ", "[...]" removed, then one pass of "  " → " " (the leading space of a removed marker stays).
  assert.equal(preprocess("[header] How to x [title] Do y. [step] Z  w"), " How to x. Do y. Z w");
  assert.equal(preprocess("  a   b  "), "a  b");
  assert.equal(capitalize("the MAN"), "The man");
  assert.equal(capitalize(""), "");
});

test(
  "golden: hellaswag (lm-eval hellaswag.yaml: doc_to_text {{query}}, choices, target_delimiter ' ')",
  { skip: !haveData && "no ../shared/datasets" },
  async () => {
    // klosax val text, tasks 1–3: line 1 is the (already preprocessed) query, the gold ending follows a space.
    assert.deepEqual(await pairsOf("hellaswag", "validation", firstN), [
      {
        context: "Roof shingle removal: A man is sitting on a roof. he",
        continuation: " starts pulling up roofing on a roof.",
      },
      {
        context: "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. the lady",
        continuation: " stands and lifts the weight over her head.",
      },
      {
        context:
          "Canoeing: Two women in a child are shown in a canoe while a man pulls the canoe while standing in the water, with other individuals visible in the background. the child and a different man",
        continuation: " sit in a canoe while the man paddles.",
      },
    ]);
    // Original train JSONL, processed by utils.process_docs: activity_label + ": " + ctx_a + " " + ctx_b.capitalize().
    const [train] = await pairsOf("hellaswag", "train", (d) => (d as { id: string }).id === "8", 1);
    assert.deepEqual(train, {
      context:
        "Baking cookies: A female chef in white uniform shows a stack of baking pans in a large kitchen presenting them. The pans",
      continuation: " are filled with pastries and loaded into the oven.",
    });
  },
);

test(
  "golden: social_iqa (lm-eval siqa.yaml: 'Q: {{context}} {{question}}\\nA:', target label-1)",
  { skip: !haveData && "no ../shared/datasets" },
  async () => {
    // dev.jsonl lines 1–3 with dev-labels.lst 3, 1, 2.
    assert.deepEqual(await pairsOf("social_iqa", "validation", firstN), [
      {
        context:
          "Q: Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?\nA:",
        continuation: " Find somewhere to go",
      },
      {
        context:
          "Q: Sydney walked past a homeless woman asking for change but did not have any money they could give to her. Sydney felt bad afterwards. How would you describe Sydney?\nA:",
        continuation: " sympathetic",
      },
      {
        context:
          "Q: Sasha protected the patients' rights by making new laws regarding cancer drug trials. What will patients want to do next?\nA:",
        continuation: " get petitions signed",
      },
    ]);
  },
);

test(
  "golden: openbookqa (lm-eval openbookqa.yaml: doc_to_text question_stem, choices.text)",
  { skip: !haveData && "no ../shared/datasets" },
  async () => {
    assert.deepEqual(await pairsOf("openbookqa", "test", firstN), [
      {
        context:
          "A person wants to start saving money so that they can afford a nice vacation at the end of the year. After looking over their budget and expenses, they decide the best way to save money is to",
        continuation: " quit eating lunch out",
      },
      { context: "There is most likely going to be fog around:", continuation: " a marsh" },
      { context: "Predators eat", continuation: " bunnies" },
    ]);
  },
);

test(
  "golden: arc_easy / arc_challenge (lm-eval arc_easy.yaml: 'Question: {{question}}\\nAnswer:', label.index(answerKey))",
  { skip: !haveData && "no ../shared/datasets" },
  async () => {
    assert.deepEqual(await pairsOf("arc_easy", "test", firstN), [
      {
        context:
          "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:",
        continuation: " Sunlight is the source of energy for nearly all ecosystems.",
      },
      {
        context:
          "Question: Which piece of safety equipment is used to keep mold spores from entering the respiratory system?\nAnswer:",
        continuation: " breathing mask",
      },
      {
        context:
          "Question: Meiosis is a type of cell division in which germ cells divide to produce haploid cells. Where does meiosis occur?\nAnswer:",
        continuation: " ovary cells",
      },
    ]);
    // Numeric labels "1".."4" and a 3-choice item with numeric labels.
    const ids = new Set(["NYSEDREGENTS_2008_8_34", "NYSEDREGENTS_2012_8_42", "NYSEDREGENTS_2010_4_4"]);
    const hard = await pairsOf("arc_challenge", "test", (d) => ids.has((d as { id: string }).id));
    assert.deepEqual(hard, [
      {
        context:
          "Question: Which statement best describes the energy changes that occur while a child is riding on a sled down a steep, snow-covered hill?\nAnswer:",
        continuation: " Kinetic energy increases and potential energy decreases.",
      },
      {
        context:
          "Question: A toy truck rolls over a smooth surface. If the surface is covered with sand, the truck will most likely roll\nAnswer:",
        continuation: " slower",
      },
      {
        context: "Question: If the force used to push a shopping cart increases, the cart's acceleration will\nAnswer:",
        continuation: " increase",
      },
    ]);
    const { docs } = await loadDocs("arc_challenge", "test", DATA);
    const three = docs.find((d) => (d as { id: string }).id === "NYSEDREGENTS_2012_8_42")!;
    const arcC = getTask("arc_challenge");
    assert.ok(arcC.outputType === "multiple_choice");
    assert.deepEqual(arcC.docToChoice(three), ["decrease", "increase", "remain the same"]);
    // LLM-Adapters train format: choices parsed out of the instruction, answer "answer2" → index 1.
    const [adapters] = await pairsOf("arc_easy", "train", firstN, 1);
    assert.deepEqual(adapters, {
      context: "Question: Which factor will most likely cause a person to develop a fever?\nAnswer:",
      continuation: " a bacterial population in the bloodstream",
    });
  },
);

test(
  "golden: gsm8k (MetaMath eval_gsm8k.py prompt) and gsm8k_lm_eval (lm-eval gsm8k.yaml 'Question: {{question}}\\nAnswer:')",
  { skip: !haveData && "no ../shared/datasets" },
  async () => {
    const { docs } = await loadDocs("gsm8k", "test", DATA);
    const q0 =
      "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?";
    const gsm = getTask("gsm8k");
    assert.equal(
      gsm.docToText(docs[0]),
      `Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n${q0}\n\n### Response: Let's think step by step.`,
    );
    assert.equal(gsm.outputType === "generate_until" && gsm.docToAnswer(docs[0]), "18");
    const lm = getTask("gsm8k_lm_eval");
    assert.equal(
      lm.docToText(docs[1]),
      "Question: A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?\nAnswer:",
    );
    assert.equal(lm.outputType === "generate_until" && lm.docToAnswer(docs[1]), "3");
    // Training continuation of gsm8k = MetaMathQA response style: annotations removed, "The answer is: N" appended.
    assert.deepEqual(
      toTrainingExample(gsm, docs[1]).continuation,
      " It takes 2/2=1 bolt of white fiber\nSo the total amount of fabric is 2+1=3 bolts of fabric\n#### 3\nThe answer is: 3",
    );
    // lm-eval's target is the raw answer.
    assert.equal(
      toTrainingExample(lm, docs[1]).continuation,
      " It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is 2+1=<<2+1=3>>3 bolts of fabric\n#### 3",
    );
  },
);

test(
  "metamathqa falls back to GSM8K train in MetaMath style; merged_qa is a seeded mix of the five QA tasks",
  { skip: !haveData && "no ../shared/datasets" },
  async () => {
    const mm = await trainExamples("metamathqa", DATA, { seed: 0, limit: 3 });
    assert.equal(mm.length, 3);
    for (const ex of mm) {
      assert.match(ex.context, /^Below is an instruction/);
      assert.match(ex.continuation, /\n#### [\d,.-]+\nThe answer is: [\d,.-]+$/);
      assert.doesNotMatch(ex.continuation, /<</);
    }
    const a = await trainExamples("merged_qa", DATA, { seed: 1, limit: 400 });
    const b = await trainExamples("merged_qa", DATA, { seed: 1, limit: 400 });
    const c = await trainExamples("merged_qa", DATA, { seed: 2, limit: 400 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(
      a.map((x) => x.docId),
      c.map((x) => x.docId),
    );
    assert.deepEqual(
      new Set(a.map((x) => x.task)),
      new Set(["hellaswag", "social_iqa", "openbookqa", "arc_easy", "arc_challenge"]),
    );
  },
);
