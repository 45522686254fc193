// `train`: one LoRA run into --out (config.json, metrics.jsonl, adapter/ in PEFT format, checkpoint/, summary.json).
// Rerunning the same command resumes from the checkpoint; a different config in the same folder is refused.
import * as fs from "node:fs";
import * as path from "node:path";
import type { CommandModule } from "yargs";
import { ConfigError, parseOverrides, resolveRunConfig, mergeConfig } from "../config.ts";
import type { DeepPartial, RunConfig } from "../config.ts";
import { adoptAdapterLora, baseModelMismatch } from "../lora/adapter-config.ts";
import { OPTIMIZER_NAMES } from "../optim/types.ts";
import { RUN_FILES, type RunSummary } from "../results.ts";
import { configHash, assertSameConfig, isFinished, type Cell } from "../sweep.ts";
import { runTraining } from "../train/recipe.ts";
import { asList } from "./common.ts";
import { installInterruptHandler, formatProgressLine } from "./progress.ts";

interface TrainArgs {
  model: string;
  task?: string;
  data?: string;
  optimizer: string;
  steps?: number;
  "batch-size"?: number;
  out: string;
  "init-adapter"?: string;
  shuffle: boolean;
  set?: string[];
  backend: string;
  "data-dir"?: string;
  seed?: number;
}

function readFinishedSummary(dir: string): RunSummary | null {
  const file = path.join(dir, RUN_FILES.summary);
  if (!fs.existsSync(file)) return null;
  try {
    const s = JSON.parse(fs.readFileSync(file, "utf8")) as RunSummary;
    return isFinished(s.status) ? s : null;
  } catch {
    return null; // torn or hand-edited: resume from the checkpoint, which rewrites it
  }
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: "train",
  describe: "train one LoRA adapter (resumable) and write it in PEFT format",
  builder: (y) =>
    y
      .option("model", { type: "string", demandOption: true, describe: "local HF folder or hub id" })
      .option("task", { type: "string", describe: "training task (lm-eval name), e.g. arc_easy" })
      .option("data", { type: "string", describe: "JSONL of {context, continuation} to train on instead of a task" })
      .option("optimizer", { choices: OPTIMIZER_NAMES, default: "adamw" })
      .option("steps", { type: "number", describe: "optimizer steps (train.steps)" })
      .option("batch-size", { type: "number", describe: "examples per step (train.batchSize)" })
      .option("out", { type: "string", demandOption: true, describe: "run folder to write" })
      .option("init-adapter", {
        type: "string",
        describe:
          "start from this PEFT adapter folder instead of a fresh init (adopts its r, alpha, targets, rsLoRA, dropout)",
      })
      .option("shuffle", {
        type: "boolean",
        default: true,
        describe: "shuffle the training data (--no-shuffle keeps file order)",
      })
      .option("set", {
        type: "string",
        array: true,
        describe: "config override key=value (repeatable), e.g. --set optimizer.lr=2e-4",
      })
      .check((a) => {
        if (!a.task && !a.data) throw new Error("give --task T or --data F.jsonl");
        if (a.task && a.data) throw new Error("give either --task or --data, not both");
        return true;
      }) as never,
  handler: async (a) => {
    const cli: DeepPartial<RunConfig> = {
      model: a.model,
      task: a.task ?? null,
      data: a.data ? path.resolve(a.data) : null,
      backend: a.backend as RunConfig["backend"],
      optimizer: { name: a.optimizer as RunConfig["optimizer"]["name"] },
      train: {
        shuffle: a.shuffle,
        ...(a.steps !== undefined ? { steps: a.steps } : {}),
        ...(a["batch-size"] !== undefined ? { batchSize: a["batch-size"] } : {}),
      },
      ...(a["data-dir"] ? { dataDir: a["data-dir"] } : {}),
      ...(a.seed !== undefined ? { seed: a.seed } : {}),
    };
    const overrides = parseOverrides(asList(a.set));
    const given = mergeConfig<Record<string, unknown>>(cli as Record<string, unknown>, overrides);
    let cfg = resolveRunConfig(given);
    const initAdapter = a["init-adapter"] ? path.resolve(a["init-adapter"]) : undefined;
    if (initAdapter) {
      // The adapter's own LoRA configuration, resolved here so that config.json (and the config hash) record it.
      const lora = adoptAdapterLora(initAdapter, (overrides as { lora?: Record<string, unknown> }).lora);
      cfg = resolveRunConfig(given, { lora });
      console.error(`--init-adapter: adopting the adapter's LoRA configuration ${JSON.stringify(lora)}`);
      const warning = baseModelMismatch(initAdapter, cfg.model);
      if (warning) console.error(warning);
    }
    if (cfg.train.steps === 0) {
      throw new ConfigError(
        "train.steps is 0: a run must take at least one optimizer step (--steps N with N ≥ 1); " +
          "to score a model or an adapter without training, use `eval`",
      );
    }
    const dir = path.resolve(a.out);
    const hash = configHash(cfg);
    const cell: Cell = { runId: path.basename(dir), configHash: hash, config: cfg, coords: {} };
    assertSameConfig(dir, cell);
    // A finished run is never overwritten: rerunning its command is a no-op (as a sweep skips finished cells).
    const done = readFinishedSummary(dir);
    if (done) {
      console.error(
        `${dir} already holds a finished run (${done.status}); nothing to do. Use another --out to train again.`,
      );
      console.log(
        JSON.stringify(
          { status: done.status, dir, steps: done.stepsCompleted, final: done.final, error: done.error },
          null,
          2,
        ),
      );
      return;
    }
    const { signal, dispose } = installInterruptHandler();
    const tty = process.stderr.isTTY;
    const summary = await runTraining(cfg, {
      experiment: "train",
      runId: cell.runId,
      configHash: hash,
      dir,
      signal,
      ...(initAdapter ? { initAdapter } : {}),
      log: (m) => console.error(m),
      onStep: (p) => {
        const line = formatProgressLine(cell.runId, p);
        if (tty) process.stderr.write(`\r${line}\x1b[K`);
        else if (p.step === p.totalSteps || p.step % Math.max(1, Math.floor(p.totalSteps / 20)) === 0)
          console.error(line);
      },
    });
    dispose();
    if (tty) process.stderr.write("\n");
    console.log(
      JSON.stringify(
        { status: summary.status, dir, steps: summary.stepsCompleted, final: summary.final, error: summary.error },
        null,
        2,
      ),
    );
    if (summary.status !== "success") process.exitCode = summary.status === "interrupted" ? 130 : 1;
  },
};
