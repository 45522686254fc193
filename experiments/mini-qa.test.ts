// mini-qa with any local Llama/Qwen2 folder (--set model=DIR): the cells use that folder, its shape drives the
// --dry-run cost estimate, and a folder named like one of the paper's models gets the paper's Table 1 numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { expandExperiment } from "../src/sweep.ts";
import { parseOverrides } from "../src/config.ts";
import { runSweep } from "../src/cli/sweep.ts";
import { paperModel } from "../src/report/paper.ts";
import { miniQa } from "./mini-qa.ts";
import { EXPERIMENTS } from "./index.ts";
import { captureConsole } from "../src/testing/capture-console.ts";

const QWEN_TINY = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "src",
  "models",
  "fixtures",
  "qwen2-tiny",
);

test("mini-qa --set model=<local folder>: every cell trains that folder; the dry run estimates it from its config.json", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mini-qa-local-"));
  // A local checkpoint folder named as the paper's model (config.json is all a dry run reads).
  const local = path.join(tmp, "Qwen2-0.5B");
  fs.mkdirSync(local);
  fs.copyFileSync(path.join(QWEN_TINY, "config.json"), path.join(local, "config.json"));
  const set = [`model=${local}`, "dataDir=/data/qa", "train.batchSize=2", "optimizer.lr=2e-4"];
  const cells = expandExperiment(miniQa, { overrides: parseOverrides(set), only: ["optimizer=adamw,stable-lora"] });
  assert.equal(cells.length, 5 * 2 * 3, "5 tasks × AdamW, Stable-LoRA × 3 seeds");
  assert.ok(
    cells.every((c) => c.config.model === local && c.config.dataDir === "/data/qa" && c.config.optimizer.lr === 2e-4),
  );
  assert.ok(
    cells.every((c) => c.runId.includes("--qwen2-0.5b--")),
    cells[0]!.runId,
  );
  assert.equal(paperModel(local), "qwen2-0.5b", "the report matches Table 1 by the folder name");
  const { value: code, out } = await captureConsole(() =>
    runSweep(
      {
        experiment: "mini-qa",
        set,
        only: ["optimizer=adamw,stable-lora"],
        "dry-run": true,
        backend: "auto",
        "results-dir": path.join(tmp, "results"),
      },
      EXPERIMENTS,
    ),
  );
  assert.equal(code, 0);
  assert.match(out, /mini-qa: 30 cells \(30 new\); estimated \d+[smh]/, "a finite estimate from the folder's shape");
  fs.rmSync(tmp, { recursive: true, force: true });
});
