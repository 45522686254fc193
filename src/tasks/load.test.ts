// Data loading: bad rows (missing field, label out of range) fail with the file and line; a missing task folder
// says how to get the data; hub layouts (parquet, fixture from tools/reference/make-arc-parquet.mjs) are found by
// file name; seeded subsampling is deterministic; `data import` validates before writing and records sha256.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { DataFileError, loadDocs, MissingDataError, subsampleIndices, toTrainingExample, getTask } from "./index.ts";
import { importTaskData, readManifest, sha256File } from "./data-admin.ts";
import { Rng } from "../util/rng.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

function tmpDataDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lora-lab-data-"));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const arcRow = (id: string, key: string, labels = ["A", "B", "C", "D"]) =>
  JSON.stringify({
    id,
    question: { stem: `q ${id}`, choices: labels.map((l, i) => ({ text: `c${i}`, label: l })) },
    answerKey: key,
  });

test("missing field → error naming file and line", async () => {
  const dir = tmpDataDir({
    "arc_easy/ARC-Easy-Test.jsonl": [
      arcRow("a", "A"),
      JSON.stringify({
        id: "b",
        question: {
          stem: "q",
          choices: [
            { text: "x", label: "A" },
            { text: "y", label: "B" },
          ],
        },
      }),
    ].join("\n"),
  });
  await assert.rejects(
    loadDocs("arc_easy", "test", dir),
    (e: Error) =>
      e instanceof DataFileError &&
      e.message.includes("ARC-Easy-Test.jsonl:2") &&
      /"answerKey" is missing/.test(e.message),
  );
});

test("labels out of range → error naming file and line (ARC key, SIQA label, HellaSwag label, LLM-Adapters answerN)", async () => {
  const arc = tmpDataDir({
    "arc_easy/ARC-Easy-Test.jsonl": [arcRow("a", "A"), arcRow("b", "B"), arcRow("c", "E")].join("\n"),
  });
  await assert.rejects(
    loadDocs("arc_easy", "test", arc),
    /ARC-Easy-Test\.jsonl:3: answerKey "E" is not one of the choice labels \[A, B, C, D\]/,
  );

  const row = JSON.stringify({ context: "c", question: "q", answerA: "a", answerB: "b", answerC: "c" });
  const siqa = tmpDataDir({ "siqa/dev.jsonl": `${row}\n${row}\n`, "siqa/dev-labels.lst": "1\n4\n" });
  await assert.rejects(
    loadDocs("social_iqa", "validation", siqa),
    (e: Error) => /dev\.jsonl:2/.test(e.message) && /out of range; it must be in 1\.\.3/.test(e.message),
  );
  const siqaShort = tmpDataDir({ "siqa/dev.jsonl": `${row}\n${row}\n`, "siqa/dev-labels.lst": "1\n" });
  await assert.rejects(loadDocs("social_iqa", "validation", siqaShort), /has 1 labels but .* has 2 rows/);

  const hs = JSON.stringify({
    ind: 1,
    activity_label: "A",
    ctx_a: "x.",
    ctx_b: "he",
    endings: ["a", "b", "c", "d"],
    label: 7,
  });
  const hsDir = tmpDataDir({ "hellaswag/hellaswag_train.jsonl": hs + "\n" });
  await assert.rejects(
    loadDocs("hellaswag", "train", hsDir),
    /hellaswag_train\.jsonl:1: label "label" = 7 is out of range; it must be in 0\.\.3/,
  );

  const inst =
    "Please choose the correct answer to the question: Q?\n\nAnswer1: a Answer2: b\n\nAnswer format: answer1/answer2";
  const la = tmpDataDir({
    "arc_easy/llm-adapters/train.json": JSON.stringify([
      { instruction: inst, input: "", output: "", answer: "answer2" },
      { instruction: inst, input: "", output: "", answer: "answer3" },
    ]),
  });
  await assert.rejects(
    loadDocs("arc_easy", "train", la),
    /train\.json#1: label "answer" = "answer3" is out of range; it must be answer1\.\.answer2/,
  );
});

test("a missing task folder says where it looked and how to get the data", async () => {
  const dir = tmpDataDir({});
  await assert.rejects(
    loadDocs("social_iqa", "validation", dir),
    (e: Error) =>
      e instanceof MissingDataError &&
      e.message.includes(path.join(dir, "siqa")) &&
      /data fetch social_iqa/.test(e.message) &&
      /data import social_iqa/.test(e.message),
  );
});

test("hub parquet layout is discovered by file name and read with nested choices", async () => {
  const dir = tmpDataDir({});
  fs.mkdirSync(path.join(dir, "arc_easy/hub/ARC-Easy"), { recursive: true });
  fs.copyFileSync(
    path.join(here, "fixtures/arc-hub-test.parquet"),
    path.join(dir, "arc_easy/hub/ARC-Easy/test-00000-of-00001.parquet"),
  );
  const { docs, files } = await loadDocs("arc_easy", "test", dir);
  assert.equal(files.length, 1);
  assert.equal(docs.length, 3);
  const t = getTask("arc_easy");
  assert.deepEqual(toTrainingExample(t, docs[1]), {
    task: "arc_easy",
    docId: "NYSEDREGENTS_2012_8_42",
    context: "Question: If the force used to push a shopping cart increases, the cart's acceleration will\nAnswer:",
    continuation: " increase",
  });
  assert.equal(toTrainingExample(t, docs[2]).continuation, " e"); // 5 choices, key E
  await assert.rejects(loadDocs("arc_easy", "train", dir), MissingDataError);
});

test("seeded subsampling: deterministic, sorted, depends on the seed, all docs without a limit", () => {
  const a = subsampleIndices(100, 10, Rng.derive(3, "x"));
  assert.deepEqual(a, subsampleIndices(100, 10, Rng.derive(3, "x")));
  assert.notDeepEqual(a, subsampleIndices(100, 10, Rng.derive(4, "x")));
  assert.deepEqual(
    a,
    [...a].sort((x, y) => x - y),
  );
  assert.equal(new Set(a).size, 10);
  assert.deepEqual(subsampleIndices(5, null, new Rng(0)), [0, 1, 2, 3, 4]);
  assert.deepEqual(subsampleIndices(5, 50, new Rng(0)), [0, 1, 2, 3, 4]);
});

test("data import: validates first (bad file → nothing written), then copies with sha256 in MANIFEST.json", async () => {
  const src = tmpDataDir({
    "bad.jsonl": arcRow("a", "Z") + "\n",
    "good.jsonl": [arcRow("a", "A"), arcRow("b", "2", ["1", "2", "3"])].join("\n") + "\n",
  });
  const dataDir = tmpDataDir({});
  await assert.rejects(
    importTaskData("arc_challenge", path.join(src, "bad.jsonl"), { dataDir, split: "test" }),
    (e: Error) => e.message.includes(path.join(src, "bad.jsonl") + ":1") && /nothing was written/.test(e.message),
  );
  assert.equal(fs.existsSync(path.join(dataDir, "arc_challenge")), false);
  const m = await importTaskData("arc_challenge", path.join(src, "good.jsonl"), { dataDir, split: "test" });
  assert.deepEqual(m.rows, { test: 2 });
  assert.equal(m.files[0]!.sha256, sha256File(path.join(src, "good.jsonl")));
  assert.deepEqual(readManifest(path.join(dataDir, "arc_challenge"))?.rows, { test: 2 });
  assert.equal((await loadDocs("arc_challenge", "test", dataDir)).docs.length, 2);
  await assert.rejects(
    importTaskData("arc_challenge", path.join(src, "good.jsonl"), { dataDir, split: "test" }),
    /already exists; pass --force/,
  );
  await assert.rejects(importTaskData("nope", src, { dataDir }), /unknown task "nope"/);
});
