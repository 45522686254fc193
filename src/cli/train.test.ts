// `train --out DIR` (src/cli/train.ts), called in process: a finished run folder is never rewritten by rerunning its
// command, and a different config aimed at the same folder is refused with the folder untouched. (Resuming an
// interrupted run is the recipe's job: src/train/resume.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RunSummary } from "../results.ts";
import { trainCommand } from "./train.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "train-cli-test-"));

async function train(out: string, extra: Record<string, unknown> = {}): Promise<{ out: string; err: string }> {
  const log = console.log, error = console.error;
  let o = "", e = "";
  console.log = (...x: unknown[]) => void (o += x.join(" ") + "\n");
  console.error = (...x: unknown[]) => void (e += x.join(" ") + "\n");
  try {
    await (trainCommand.handler as (a: unknown) => Promise<void>)({
      model: "random:d=32,L=1,heads=2,kv=1", task: "synthetic", optimizer: "adamw", steps: 4, "batch-size": 4, out, shuffle: true,
      set: ["train.maxSeqLen=16", "eval.limit=20", "train.checkpointEvery=2"], backend: "wasm", "data-dir": path.join(tmp, "datasets"), ...extra,
    });
    return { out: o, err: e };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test("train: a finished --out folder is left alone on rerun; a different config there is refused", async () => {
  const out = path.join(tmp, "run");
  const first = await train(out);
  const summaryFile = path.join(out, "summary.json");
  const s = JSON.parse(fs.readFileSync(summaryFile, "utf8")) as RunSummary;
  assert.equal(s.status, "success", first.err);
  assert.equal(JSON.parse(first.out).status, "success");
  const before = fs.readdirSync(out, { recursive: true }).map(String).sort().map((f) => `${f}:${fs.statSync(path.join(out, f)).mtimeMs}`);

  const again = await train(out);
  assert.match(again.err, /already holds a finished run \(success\); nothing to do/);
  assert.deepEqual(JSON.parse(again.out).final, s.final);
  const after = fs.readdirSync(out, { recursive: true }).map(String).sort().map((f) => `${f}:${fs.statSync(path.join(out, f)).mtimeMs}`);
  assert.deepEqual(after, before, "no file rewritten");

  await assert.rejects(train(out, { steps: 5 }), /written by a different config/);
  assert.deepEqual(fs.readdirSync(out, { recursive: true }).map(String).sort().map((f) => `${f}:${fs.statSync(path.join(out, f)).mtimeMs}`), before);
  process.exitCode = 0;
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
