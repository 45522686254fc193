// Before the first cell of a sweep: does everything its cells will read exist and parse? Models (random specs,
// local folders, hub ids under HF_HUB_OFFLINE), JSONL training files, every task's training split and every
// evaluation (and few-shot) split, each read whole once, so a label out of range in an evaluation split is found in
// seconds instead of after all training steps. Every problem is reported at once. Hub models that are not cached
// yet are left to the run (it downloads them).
import * as fs from "node:fs";
import * as path from "node:path";
import { getHFHubCachePath } from "@huggingface/hub";
import type { RunConfig } from "../config.ts";
import { cachedSnapshot, looksLocal, missingModelFiles } from "../hub.ts";
import { readModelConfig } from "../models/model-config.ts";
import { isRandomModelSpec, parseRandomModelSpec } from "../models/random-model.ts";
import { readPairsJsonl } from "../tasks/pairs-file.ts";
import { getTask, loadDocs, loadTrainExamples, type SplitName } from "../tasks/index.ts";
import { defaultEvalTasks } from "../train/recipe.ts";

function checkModel(model: string): string | null {
  if (isRandomModelSpec(model)) {
    parseRandomModelSpec(model);
    return null;
  }
  if (looksLocal(model)) {
    if (!fs.existsSync(model)) return `model folder ${model} does not exist`;
    readModelConfig(model);
    const missing = missingModelFiles(model);
    if (!fs.existsSync(path.join(model, "tokenizer.json"))) missing.push("tokenizer.json");
    return missing.length ? `model folder ${model} lacks ${missing.join(", ")}` : null;
  }
  const offline = ["1", "true", "yes", "on"].includes((process.env.HF_HUB_OFFLINE ?? "").toLowerCase());
  if (offline && !cachedSnapshot({ type: "model", name: model }, "main", getHFHubCachePath())) {
    return `model ${model} is not in the hub cache and HF_HUB_OFFLINE is set`;
  }
  return null;
}

/** Every problem found, as "what: why" lines; empty when all inputs are fine. */
export async function preflight(configs: readonly RunConfig[]): Promise<string[]> {
  const problems: string[] = [];
  const once = new Set<string>();
  const check = async (key: string, what: string, f: () => unknown) => {
    if (once.has(key)) return;
    once.add(key);
    try {
      const msg = await f();
      if (typeof msg === "string") problems.push(`${what}: ${msg}`);
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  for (const cfg of configs) {
    await check(`model ${cfg.model}`, `model ${cfg.model}`, () => checkModel(cfg.model));
    if (cfg.data) await check(`data ${cfg.data}`, `training file ${cfg.data}`, () => void readPairsJsonl(cfg.data!));
    const task = cfg.task;
    if (task && !cfg.data)
      await check(
        `train ${task} ${cfg.dataDir}`,
        `task ${task} (training data in ${cfg.dataDir})`,
        async () => void (await loadTrainExamples(task, cfg.dataDir, { seed: 0 })),
      );
    let evalTasks: string[] = [];
    try {
      evalTasks = cfg.eval.tasks.length ? cfg.eval.tasks : task ? defaultEvalTasks(task) : [];
    } catch (e) {
      problems.push(`task ${task}: ${(e as Error).message}`);
    }
    for (const t of evalTasks) {
      await check(
        `eval ${t} ${cfg.eval.split} ${cfg.eval.numFewshot} ${cfg.dataDir}`,
        `evaluation task ${t} (in ${cfg.dataDir})`,
        async () => {
          const spec = getTask(t);
          if (spec.outputType === "train_only") return `task "${t}" is training-only and cannot be evaluated`;
          const split = (cfg.eval.split ?? spec.splits.eval) as SplitName | undefined;
          if (!split) return `task "${t}" has no evaluation split; set eval.split`;
          await loadDocs(spec, split, cfg.dataDir);
          const k = cfg.eval.numFewshot ?? spec.defaultNumFewshot;
          const fewshot = spec.splits.fewshot ?? "train";
          if (k > 0 && fewshot !== split) await loadDocs(spec, fewshot, cfg.dataDir);
          return undefined;
        },
      );
    }
  }
  return problems;
}
