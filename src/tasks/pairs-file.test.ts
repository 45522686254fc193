import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readPairsJsonl } from "./pairs-file.ts";

function tmp(content: string): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pairs-")), "in.jsonl");
  fs.writeFileSync(f, content);
  return f;
}

test("reads pairs in order, skipping blank lines", () => {
  const f = tmp('{"context":"a","continuation":" b"}\n\n{"context":"","continuation":"c"}\n');
  assert.deepEqual(readPairsJsonl(f), [
    { context: "a", continuation: " b" },
    { context: "", continuation: "c" },
  ]);
});

test("malformed line, missing field and empty continuation name the line", () => {
  assert.throws(
    () => readPairsJsonl(tmp('{"context":"a","continuation":"b"}\n{oops\n')),
    /in\.jsonl:2: not valid JSON/,
  );
  assert.throws(() => readPairsJsonl(tmp('{"context":"a"}\n')), /in\.jsonl:1: field "continuation" is missing/);
  assert.throws(
    () => readPairsJsonl(tmp('{"context":"a","continuation":""}\n')),
    /in\.jsonl:1: "continuation" is empty/,
  );
  assert.throws(() => readPairsJsonl("/nonexistent/x.jsonl"), /file not found/);
});
