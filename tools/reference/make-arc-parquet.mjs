// Writes src/tasks/fixtures/arc-hub-test.parquet: 3 ARC-Easy test rows in the HF hub's allenai/ai2_arc parquet schema
// (id, question, choices: struct<text: list<string>, label: list<string>>, answerKey), snappy-compressed, for
// readers.test.ts. hyparquet-writer is not a project dependency; run it from a scratch folder:
//   mkdir /tmp/pqw && cd /tmp/pqw && npm init -y && npm install hyparquet-writer@0.17.0
//   NODE_PATH=/tmp/pqw/node_modules node --experimental-default-type=module tools/reference/make-arc-parquet.mjs
import { createRequire } from "node:module";
import * as fs from "node:fs";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { parquetWriteBuffer } = await import(require.resolve("hyparquet-writer"));

const rows = [
  {
    id: "Mercury_417466",
    question: "Which statement best explains why photosynthesis is the foundation of most food webs?",
    choices: {
      text: [
        "Sunlight is the source of energy for nearly all ecosystems.",
        "Most ecosystems are found on land instead of in water.",
        "Carbon dioxide is more available than other gases.",
        "The producers in all ecosystems are plants.",
      ],
      label: ["A", "B", "C", "D"],
    },
    answerKey: "A",
  },
  {
    id: "NYSEDREGENTS_2012_8_42",
    question: "If the force used to push a shopping cart increases, the cart's acceleration will",
    choices: { text: ["decrease", "increase", "remain the same"], label: ["1", "2", "3"] },
    answerKey: "2",
  },
  {
    id: "Five_choices",
    question: "Pick E.",
    choices: { text: ["a", "b", "c", "d", "e"], label: ["A", "B", "C", "D", "E"] },
    answerKey: "E",
  },
];
const utf8 = (name, rep = "OPTIONAL") => ({ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: rep });
const list = (name) => [
  { name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
  { name: "list", repetition_type: "REPEATED", num_children: 1 },
  utf8("element"),
];
const buf = parquetWriteBuffer({
  columnData: [
    { name: "id", data: rows.map((r) => r.id) },
    { name: "question", data: rows.map((r) => r.question) },
    { name: "choices", data: rows.map((r) => r.choices) },
    { name: "answerKey", data: rows.map((r) => r.answerKey) },
  ],
  schema: [
    { name: "root", num_children: 4 },
    utf8("id"),
    utf8("question"),
    { name: "choices", repetition_type: "OPTIONAL", num_children: 2 },
    ...list("text"),
    ...list("label"),
    utf8("answerKey"),
  ],
});
fs.writeFileSync(new URL("../../src/tasks/fixtures/arc-hub-test.parquet", import.meta.url), new Uint8Array(buf));
console.log("wrote", buf.byteLength, "bytes");
