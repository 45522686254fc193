// The preflight: a sweep whose cells read a missing model folder and an evaluation split with a label out of range
// fails before any cell starts, naming both problems at once, and creates nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { sweepExitCode } from "../cli/sweep.ts";
import { preflight } from "./preflight.ts";
import { resolveRunConfig } from "../config.ts";
import { EXPERIMENTS } from "../../experiments/index.ts";
import { captureConsole } from "../testing/capture-console.ts";

const arcRow = (id: string, key: string) =>
  JSON.stringify({
    id,
    question: { stem: `q${id}`, choices: ["A", "B", "C", "D"].map((l) => ({ text: `t${l}`, label: l })) },
    answerKey: key,
  });

test("every problem at once, before the first cell; nothing is created", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "preflight-test-"));
  const dataDir = path.join(tmp, "datasets");
  fs.mkdirSync(path.join(dataDir, "arc_easy"), { recursive: true });
  fs.writeFileSync(
    path.join(dataDir, "arc_easy", "ARC-Easy-Test.jsonl"),
    [arcRow("a", "A"), arcRow("b", "E")].join("\n"),
  );
  const results = path.join(tmp, "results");
  const { value: code, err: msg } = await captureConsole(() =>
    sweepExitCode(
      {
        experiment: "quickstart",
        backend: "wasm",
        report: false,
        "results-dir": results,
        "data-dir": dataDir,
        only: ["optimizer=adamw", "seed=0"],
        set: ["model=" + path.join(tmp, "no-model"), 'eval.tasks=["arc_easy"]', "train.steps=2"],
      },
      EXPERIMENTS,
    ),
  );
  assert.equal(code, 2, msg);
  assert.match(msg, /preflight: 2 problem\(s\)/);
  assert.match(msg, /model .*no-model: model folder .*no-model does not exist/);
  assert.match(msg, /evaluation task arc_easy .*ARC-Easy-Test\.jsonl:2: answerKey "E" is not one of the choice labels/);
  assert.ok(!fs.existsSync(results), "nothing created");
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("a good config passes; the synthetic task and a random model need nothing on disk", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "preflight-ok-"));
  const cfg = resolveRunConfig({ model: "random:d=32,L=1", task: "synthetic", dataDir: tmp });
  assert.deepEqual(await preflight([cfg]), []);
  assert.match(
    (await preflight([resolveRunConfig({ model: "random:d=x", task: "synthetic", dataDir: tmp })]))[0] ?? "",
    /random:d=x/,
  );
  fs.rmSync(tmp, { recursive: true, force: true });
});
