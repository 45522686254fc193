// Per-document resume of an evaluation: a run that dies part-way keeps the documents it scored (appended in chunks
// to the resume file); the rerun scores only the rest and ends with the same samples and metrics as a straight run.
// Another key (other model/adapter/settings) or another document's context never reuses a kept sample.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { evaluateTask } from "./evaluate.ts";
import type { GenerateRequest, LanguageModel, LoglikelihoodRequest, LoglikelihoodResult } from "./types.ts";

class CountingLM implements LanguageModel {
  contexts: string[] = [];
  constructor(private failAfterCalls = Infinity) {}
  async loglikelihood(requests: readonly LoglikelihoodRequest[]): Promise<LoglikelihoodResult[]> {
    if (this.failAfterCalls-- <= 0) throw new Error("killed");
    this.contexts.push(...new Set(requests.map((r) => r.context)));
    // a deterministic score per (context, continuation)
    return requests.map((r) => ({
      logprob: -((r.context.length * 7 + r.continuation.length * 3) % 11) - 0.5,
      isGreedy: false,
    }));
  }
  async generateUntil(requests: readonly GenerateRequest[]): Promise<string[]> {
    return requests.map(() => "");
  }
}

const arc = (i: number) =>
  JSON.stringify({
    id: `d${i}`,
    question: {
      stem: `question ${i}${"?".repeat(i)}`,
      choices: ["A", "B", "C"].map((l) => ({ text: `${l}${i}`, label: l })),
    },
    answerKey: "ABC"[i % 3],
  });

test("an interrupted evaluation resumes from the documents already scored", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eval-resume-"));
  fs.mkdirSync(path.join(dir, "arc_easy"));
  fs.writeFileSync(
    path.join(dir, "arc_easy", "ARC-Easy-Test.jsonl"),
    Array.from({ length: 10 }, (_, i) => arc(i)).join("\n"),
  );
  const straight = await evaluateTask(new CountingLM(), "arc_easy", { dataDir: dir });
  const file = path.join(dir, "partial.jsonl");
  const resume = { file, key: "model-a", chunkDocs: 3 };

  await assert.rejects(evaluateTask(new CountingLM(2), "arc_easy", { dataDir: dir, resume }), /killed/);
  const kept = fs.readFileSync(file, "utf8").trim().split("\n");
  assert.equal(kept.length, 1 + 6, "header + the two chunks scored before the failure");
  fs.appendFileSync(file, '{"task":"arc_easy","docIndex":'); // a torn line from a kill mid-append

  const lm = new CountingLM();
  const r = await evaluateTask(lm, "arc_easy", { dataDir: dir, resume });
  assert.equal(lm.contexts.length, 4, "only the 4 documents not yet scored");
  assert.deepEqual(r.samples, straight.samples);
  assert.deepEqual(r.metrics, straight.metrics);

  // An abort between chunks stops the evaluation and keeps what was scored.
  const ctl = new AbortController();
  const stopping = new CountingLM();
  const orig = stopping.loglikelihood.bind(stopping);
  stopping.loglikelihood = async (reqs) => {
    ctl.abort();
    return orig(reqs);
  };
  const file2 = path.join(dir, "partial2.jsonl");
  await assert.rejects(
    evaluateTask(stopping, "arc_easy", {
      dataDir: dir,
      resume: { file: file2, key: "k", chunkDocs: 4 },
      signal: ctl.signal,
    }),
    /evaluation interrupted after 4 of 10 documents/,
  );
  assert.equal(fs.readFileSync(file2, "utf8").trim().split("\n").length, 1 + 4);

  // Another key: nothing is reused.
  const other = new CountingLM();
  await evaluateTask(other, "arc_easy", { dataDir: dir, resume: { ...resume, key: "model-b" } });
  assert.equal(other.contexts.length, 10);
  fs.rmSync(dir, { recursive: true, force: true });
});
