// evaluateTask against a fake LanguageModel whose log-probs and generations are fixed, so the expected metrics are
// worked out by hand below; rescore(samples) must reproduce them from the records alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { evaluateTask, rescore, type GenerateSample, type MultipleChoiceSample } from "./evaluate.ts";
import type { GenerateRequest, LanguageModel, LoglikelihoodRequest, LoglikelihoodResult } from "./types.ts";

function tmpDataDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-eval-"));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

class FakeLM implements LanguageModel {
  llRequests: LoglikelihoodRequest[] = [];
  genRequests: GenerateRequest[] = [];
  batchSizes: (number | undefined)[] = [];
  constructor(
    private lp: Record<string, number>,
    private gen: (ctx: string) => string = () => "",
  ) {}
  async loglikelihood(
    requests: readonly LoglikelihoodRequest[],
    opts?: { batchSize?: number },
  ): Promise<LoglikelihoodResult[]> {
    this.llRequests.push(...requests);
    this.batchSizes.push(opts?.batchSize);
    return requests.map((r) => {
      const lp = this.lp[r.continuation];
      if (lp === undefined) throw new Error(`fake LM: no log-prob for ${JSON.stringify(r.continuation)}`);
      return { logprob: lp, isGreedy: lp > -1.5 };
    });
  }
  async generateUntil(requests: readonly GenerateRequest[]): Promise<string[]> {
    this.genRequests.push(...requests);
    return requests.map((r) => this.gen(r.context));
  }
}

const arc = (id: string, texts: string[], key: string) =>
  JSON.stringify({
    id,
    question: { stem: `stem ${id}`, choices: texts.map((t, i) => ({ text: t, label: "ABCD"[i] })) },
    answerKey: key,
  });

test("multiple choice: acc and acc_norm with stderr from known log-probs; rescore reproduces them", async () => {
  // doc 1: " x" −2 (−2/char) vs " yyyy" −4 (−1/char), gold B → acc 0, acc_norm 1
  // doc 2: " p" −3, " q" −2.5, " r" −1 (gold C)          → acc 1, acc_norm 1
  // doc 3: " m" −1 (−1/char), " nn" −3 (−1.5/char), gold A → acc 1, acc_norm 1
  // doc 4: " aa" −1.2 (−0.6), " b" −1.5 (−1.5), gold B     → acc 0, acc_norm 0
  const dir = tmpDataDir({
    "arc_easy/ARC-Easy-Test.jsonl": [
      arc("d1", ["x", "yyyy"], "B"),
      arc("d2", ["p", "q", "r"], "C"),
      arc("d3", ["m", "nn"], "A"),
      arc("d4", ["aa", "b"], "B"),
    ].join("\n"),
  });
  const lm = new FakeLM({
    " x": -2,
    " yyyy": -4,
    " p": -3,
    " q": -2.5,
    " r": -1,
    " m": -1,
    " nn": -3,
    " aa": -1.2,
    " b": -1.5,
  });
  const r = await evaluateTask(lm, "arc_easy", { dataDir: dir, batchSize: 7 });
  assert.equal(r.n, 4);
  assert.equal(r.split, "test");
  assert.equal(r.metrics["acc,none"], 0.5);
  assert.equal(r.metrics["acc_norm,none"], 0.75);
  assert.ok(Math.abs(r.metrics["acc_stderr,none"]! - Math.sqrt(0.25 / 3)) < 1e-15);
  assert.ok(Math.abs(r.metrics["acc_norm_stderr,none"]! - Math.sqrt((0.75 * 0.25) / 3)) < 1e-15);
  assert.deepEqual(rescore(r.samples), r.metrics);
  // requests are lm-eval's: context = doc_to_text, continuation = " " + choice
  assert.deepEqual(lm.llRequests[0], { context: "Question: stem d1\nAnswer:", continuation: " x" });
  assert.deepEqual(lm.batchSizes, [7]);
  const s0 = r.samples[0] as MultipleChoiceSample;
  assert.deepEqual([s0.docId, s0.target, s0.prediction, s0.predictionNorm, s0.acc, s0.acc_norm], ["d1", 1, 0, 1, 0, 1]);
  assert.deepEqual(s0.isGreedy, [false, false]);
  // the records alone decide: tampering with a stored log-prob changes the rescored metric
  const tampered = r.samples.map((s, i) => (i === 0 ? { ...(s as MultipleChoiceSample), logprobs: [-9, -4] } : s));
  assert.equal(rescore(tampered)["acc,none"], 0.75);
});

test("limit is a seeded subsample: same seed same docs, metrics over the subsample", async () => {
  const rows = Array.from({ length: 20 }, (_, i) => arc(`d${i}`, ["x", "yyyy"], i % 2 ? "A" : "B"));
  const dir = tmpDataDir({ "arc_easy/ARC-Easy-Test.jsonl": rows.join("\n") });
  const lm = new FakeLM({ " x": -2, " yyyy": -4 });
  const a = await evaluateTask(lm, "arc_easy", { dataDir: dir, limit: 5, seed: 1 });
  const b = await evaluateTask(lm, "arc_easy", { dataDir: dir, limit: 5, seed: 1 });
  const c = await evaluateTask(lm, "arc_easy", { dataDir: dir, limit: 5, seed: 2 });
  assert.equal(a.n, 5);
  assert.deepEqual(
    a.samples.map((s) => s.docId),
    b.samples.map((s) => s.docId),
  );
  assert.notDeepEqual(
    a.samples.map((s) => s.docId),
    c.samples.map((s) => s.docId),
  );
  const odd = a.samples.filter((s) => Number(s.docId.slice(1)) % 2 === 1).length; // gold A = "x" = acc-correct
  assert.equal(a.metrics["acc,none"], odd / 5);
});

const gsmRow = (q: string, a: string) => JSON.stringify({ question: q, answer: a });

test("generation: strict-match and flexible-extract exact_match, MetaMath vs lm-eval answer styles", async () => {
  const dir = tmpDataDir({
    "gsm8k/test.jsonl": [
      gsmRow("Q1?", "x <<1+1=2>>\n#### 18"),
      gsmRow("Q2?", "y\n#### 1,234"),
      gsmRow("Q3?", "z\n#### 5"),
    ].join("\n"),
    "gsm8k/train.jsonl": [gsmRow("T1?", "t\n#### 1"), gsmRow("T2?", "u\n#### 2"), gsmRow("T3?", "v\n#### 3")].join(
      "\n",
    ),
  });
  const gen = (ctx: string) =>
    ctx.includes("Q1?")
      ? "9 * 2 = 18.\nThe answer is: 18"
      : ctx.includes("Q2?")
        ? "#### 1234 and then 99"
        : "I think 5.0";
  // metamath style: strict [1 ("The answer is: 18"), 1 ("1234"), 0] = 2/3; flexible ["18."→18 ✓, "99" ✗, "5.0"→5 ✓] = 2/3
  const lm = new FakeLM({}, gen);
  const r = await evaluateTask(lm, "gsm8k", { dataDir: dir, maxNewTokens: 64 });
  assert.equal(r.metrics["exact_match,strict-match"], 2 / 3);
  assert.equal(r.metrics["exact_match,flexible-extract"], 2 / 3);
  assert.deepEqual(rescore(r.samples), r.metrics);
  assert.equal(lm.genRequests[0]!.maxNewTokens, 64);
  assert.ok(lm.genRequests[0]!.until.includes("Instruction:"));
  const s1 = r.samples[1] as GenerateSample;
  assert.deepEqual(
    [
      s1.target,
      s1.filtered["strict-match"],
      s1.filtered["flexible-extract"],
      s1.exact_match["strict-match"],
      s1.exact_match["flexible-extract"],
    ],
    ["1,234", "1234", "99", 1, 0],
  );

  // lm-eval style: strict needs "#### N": [0, 1, 0]; flexible, no ".0" stripping: [1, 0, 0]
  const lm2 = new FakeLM({}, gen);
  const r2 = await evaluateTask(lm2, "gsm8k_lm_eval", { dataDir: dir, numFewshot: 2, seed: 0 });
  assert.equal(r2.numFewshot, 2);
  assert.equal(r2.metrics["exact_match,strict-match"], 1 / 3);
  assert.equal(r2.metrics["exact_match,flexible-extract"], 1 / 3);
  assert.deepEqual(rescore(r2.samples), r2.metrics);
  // 2-shot context: two "Question: T?\nAnswer: <answer>" blocks from train, "\n\n"-joined, then the doc
  const ctx = lm2.genRequests[0]!.context;
  assert.match(
    ctx,
    /^Question: T\d\?\nAnswer: [tuv]\n#### \d\n\nQuestion: T\d\?\nAnswer: [tuv]\n#### \d\n\nQuestion: Q1\?\nAnswer:$/,
  );
  assert.equal(lm2.genRequests[0]!.maxNewTokens, 256);
});

test("train-only and unknown tasks are refused", async () => {
  await assert.rejects(evaluateTask(new FakeLM({}), "metamathqa", { dataDir: "." }), /training-only/);
  await assert.rejects(evaluateTask(new FakeLM({}), "arc_hard", { dataDir: "." }), /unknown task "arc_hard"/);
});
