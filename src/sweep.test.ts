import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  expandExperiment,
  configHash,
  modelSlug,
  cellStatus,
  assertSameConfig,
  runIdFor,
  type Experiment,
} from "./sweep.ts";
import { parseOverrides, resolveRunConfig } from "./config.ts";

const exp: Experiment = {
  name: "t",
  description: "test",
  base: { model: "Qwen/Qwen2-0.5B", task: "arc_easy", train: { steps: 10 } },
  axes: [
    {
      key: "optimizer",
      values: [
        { name: "adamw", lr: 1e-4 },
        { name: "stable-lora", lr: 1e-4, lambda: 1e-3 },
      ],
    },
    { key: "optimizer.lr", values: [1e-4, 2e-4] },
    { key: "seed", values: [0, 1, 2] },
  ],
};

test("expansion is the cartesian product with readable, unique ids", () => {
  const cells = expandExperiment(exp);
  assert.equal(cells.length, 2 * 2 * 3);
  assert.equal(new Set(cells.map((c) => c.runId)).size, 12);
  const c = cells.find(
    (x) => x.config.optimizer.name === "stable-lora" && x.config.optimizer.lr === 2e-4 && x.config.seed === 1,
  )!;
  assert.match(c.runId, /^arc_easy--qwen2-0\.5b--stable-lora--.*lr2e-4.*--s1--[0-9a-f]{6}$/);
  assert.equal(c.config.optimizer.name === "stable-lora" && c.config.optimizer.lambda, 1e-3);
});

test("hash covers the config: --set changes every hash; dataDir does not", () => {
  const a = expandExperiment(exp);
  const b = expandExperiment(exp, { overrides: parseOverrides(["train.batchSize=4"]) });
  a.forEach((c, i) => assert.notEqual(c.configHash, b[i]!.configHash));
  const c1 = resolveRunConfig({ dataDir: "x" }),
    c2 = resolveRunConfig({ dataDir: "y" });
  assert.equal(configHash(c1), configHash(c2));
});

test("--only filters by value, with aliases and model slugs", () => {
  assert.equal(expandExperiment(exp, { only: ["optimizer=stable-lora"] }).length, 6);
  assert.equal(expandExperiment(exp, { only: ["optimizer=stable-lora", "seed=0,2"] }).length, 4);
  assert.equal(expandExperiment(exp, { only: ["lr=2e-4"] }).length, 6);
  assert.equal(expandExperiment(exp, { only: ["model=qwen2-0.5b"] }).length, 12);
  assert.throws(() => expandExperiment(exp, { only: ["nosuchkey=1"] }), /not a config key/);
});

test("a bad axis value is an error naming the experiment and cell", () => {
  const bad: Experiment = { ...exp, axes: [{ key: "optimizer.name", values: ["adamw", "sgd"] }] };
  assert.throws(() => expandExperiment(bad), /experiment t, cell .*sgd.*optimizer\.name/s);
});

test("status from the folder, and a different config under the same id is refused", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sweep-"));
  const [cell] = expandExperiment(exp);
  assert.equal(cellStatus(dir, "t", cell!), "new");
  const rd = path.join(dir, "t", cell!.runId);
  fs.mkdirSync(rd, { recursive: true });
  fs.writeFileSync(path.join(rd, "config.json"), JSON.stringify(cell!.config));
  assert.equal(cellStatus(dir, "t", cell!), "partial");
  assertSameConfig(rd, cell!);
  fs.writeFileSync(path.join(rd, "summary.json"), JSON.stringify({ status: "success" }));
  assert.equal(cellStatus(dir, "t", cell!), "success");
  fs.writeFileSync(path.join(rd, "config.json"), JSON.stringify({ ...cell!.config, seed: 99 }));
  assert.throws(() => assertSameConfig(rd, cell!), /different config/);
  assert.ok(fs.existsSync(path.join(rd, "summary.json")));
});

test("model slugs", () => {
  assert.equal(modelSlug("Qwen/Qwen2-0.5B"), "qwen2-0.5b");
  assert.equal(modelSlug("meta-llama/Llama-3.2-1B"), "llama3.2-1b");
  assert.equal(modelSlug("../shared/models/stories260K/"), "stories260k");
  const cfg = resolveRunConfig({ task: "hellaswag", lora: { targets: ["q_proj", "k_proj", "v_proj", "o_proj"] } });
  assert.match(runIdFor(cfg, ["lora.targets"], "abcdef"), /--tgtqkvo--s0--abcdef$/);
});
