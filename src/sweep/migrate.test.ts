// Run ids hash only what a run uses: λ, LoRA+'s ratio or LoRA-RITE's settings (defaults or --set) never rename an
// AdamW run; a --set no optimizer of the sweep has is an error. Results written under the old ids (config.json
// holding every optimizer's settings) are recognised: the sweep refuses to rerun them and `--migrate-ids` renames
// them, after which they count as finished and resume correctly.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseOverrides } from "../config.ts";
import { expandExperiment, configHash, type Experiment } from "../sweep.ts";
import { runSweep, sweepExitCode, type SweepArgs } from "../cli/sweep.ts";
import type { RunSummary } from "../results.ts";
import { EXPERIMENTS } from "../../experiments/index.ts";
import { captureConsole } from "../testing/capture-console.ts";

const exp: Experiment = {
  name: "t",
  description: "test",
  base: { model: "Qwen/Qwen2-0.5B", task: "arc_easy" },
  axes: [
    {
      key: "optimizer",
      values: [
        { name: "adamw", lr: 1e-4 },
        { name: "lora-plus", lr: 1e-4 },
        { name: "stable-lora", lr: 1e-4, lambda: 1e-3 },
      ],
    },
  ],
};

test("an AdamW run's id does not depend on λ, LoRA+'s ratio or LoRA-RITE's settings", () => {
  const ids = (set: string[]) =>
    Object.fromEntries(
      expandExperiment(exp, { overrides: parseOverrides(set) }).map((c) => [c.config.optimizer.name, c.runId]),
    );
  const base = ids([]);
  const lam = ids(["optimizer.lambda=2e-3"]);
  assert.equal(lam.adamw, base.adamw);
  assert.equal(lam["lora-plus"], base["lora-plus"]);
  assert.notEqual(lam["stable-lora"], base["stable-lora"], "λ is Stable-LoRA's: its id changes");
  const ratio = ids(["optimizer.lrRatio=4"]);
  assert.equal(ratio.adamw, base.adamw);
  assert.notEqual(ratio["lora-plus"], base["lora-plus"]);
  assert.throws(
    () => expandExperiment(exp, { overrides: parseOverrides(["optimizer.applyEscape=true"]) }),
    /--set optimizer\.applyEscape: no optimizer of experiment t \(adamw, lora-plus, stable-lora\) has this setting/,
  );
  assert.notEqual(ids(["optimizer.lr=3e-4"]).adamw, base.adamw, "a shared setting changes every id");
  // --only on a setting only some optimizers have selects those cells.
  assert.deepEqual(
    expandExperiment(exp, { only: ["lambda=1e-3"] }).map((c) => c.config.optimizer.name),
    ["stable-lora"],
  );
});

test("old-format results: refused until --migrate-ids renames them; then finished and not rerun", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "migrate-test-"));
  const results = path.join(tmp, "results");
  const args: SweepArgs = {
    experiment: "quickstart",
    backend: "wasm",
    report: false,
    "results-dir": results,
    "data-dir": path.join(tmp, "datasets"),
    set: ["train.steps=3", "train.batchSize=4", "eval.limit=10", "train.checkpointEvery=1"],
    only: ["model=random:d=64,L=2", "seed=0", "optimizer=adamw,stable-lora"],
  };
  const quiet = async <T>(f: () => Promise<T>) => {
    const c = await captureConsole(f);
    return { value: c.value, out: c.all };
  };
  assert.equal((await quiet(() => runSweep(args, EXPERIMENTS))).value, 0);
  const root = path.join(results, "quickstart");
  const ids = fs.readdirSync(root).filter((n) => !n.startsWith("."));
  assert.equal(ids.length, 2);
  // Rewrite both into the old format: config.json with every optimizer's settings, a different id hash.
  const LEGACY = {
    weightDecay: 0.01,
    betas: [0.9, 0.999],
    eps: 1e-8,
    lambda: 5e-4,
    stopCondition: true,
    lrRatio: 16,
    delta: 1e-6,
    clipUnmagnifiedGrad: 1,
    updateSkipping: 1,
    updateCapping: 0,
    applyEscape: false,
  };
  const old: Record<string, string> = {};
  for (const id of ids) {
    const dir = path.join(root, id);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    const legacy = { ...cfg, optimizer: { ...LEGACY, ...cfg.optimizer } };
    assert.equal(configHash(legacy), id.slice(-6), "the old config hashes like today's");
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(legacy));
    const oldId = id.replace(/[0-9a-f]{6}$/, "0ld1d0");
    for (const f of ["summary.json", "checkpoint/state.json"]) {
      const p = path.join(dir, f);
      fs.writeFileSync(
        p,
        JSON.stringify({
          ...JSON.parse(fs.readFileSync(p, "utf8")),
          configHash: "0ld1d0",
          ...(f === "summary.json" ? { runId: oldId } : {}),
        }),
      );
    }
    fs.renameSync(dir, path.join(root, oldId));
    old[oldId] = id;
  }
  const refused = await quiet(() => sweepExitCode(args, EXPERIMENTS));
  assert.equal(refused.value, 2);
  assert.match(
    refused.out,
    /2 run folder\(s\) of this sweep are under run ids from before each optimizer had its own config .*--migrate-ids/,
  );
  assert.deepEqual(
    fs
      .readdirSync(root)
      .filter((n) => !n.startsWith("."))
      .sort(),
    Object.keys(old).sort(),
    "nothing moved",
  );

  const mig = await quiet(() => runSweep({ ...args, "migrate-ids": true }, EXPERIMENTS));
  assert.equal(mig.value, 0);
  assert.match(mig.out, /2 folder\(s\) renamed/);
  assert.deepEqual(
    fs
      .readdirSync(root)
      .filter((n) => !n.startsWith("."))
      .sort(),
    ids.sort(),
  );
  for (const [oldId, id] of Object.entries(old)) {
    const s = JSON.parse(fs.readFileSync(path.join(root, id, "summary.json"), "utf8")) as RunSummary;
    assert.deepEqual([s.runId, s.configHash, s.migratedFrom], [id, id.slice(-6), oldId]);
    assert.equal(
      JSON.parse(fs.readFileSync(path.join(root, id, "checkpoint", "state.json"), "utf8")).configHash,
      id.slice(-6),
    );
  }
  const again = await quiet(() => runSweep(args, EXPERIMENTS));
  assert.equal(again.value, 0);
  assert.match(again.out, /2 cells, 2 finished, 0 to run/);
  fs.rmSync(tmp, { recursive: true, force: true });
});
