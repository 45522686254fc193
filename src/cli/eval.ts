// `eval --model M [--adapter DIR] --task T`: lm-eval-style evaluation of a base model or a LoRA adapter. Prints a
// metrics table (or, with --json, exactly one JSON object {"task", "n", "metrics"} on stdout; everything else goes to
// stderr) and writes per-sample records (JSONL) that `rescore` turns back into the same metrics without the model:
// by default next to the adapter (<adapter>/../eval--<task>--<split>.samples.jsonl) or, for a base model, under
// <results-dir>/eval/<model>/<task>--<split>--n<N>--s<seed>.samples.jsonl. An interrupted evaluation resumes per
// document when rerun with the same arguments (samples are kept under <results-dir>/eval/.partial/ while it runs).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { CommandModule } from "yargs";
import { initBackend, type BackendChoice } from "../backend.ts";

interface EvalArgs {
  model: string;
  adapter?: string;
  task: string;
  limit?: number;
  split?: "train" | "validation" | "test";
  "num-fewshot"?: number;
  "batch-size"?: number;
  "max-new-tokens"?: number;
  json: boolean;
  samples?: string;
  backend: string;
  "data-dir"?: string;
  "results-dir": string;
  seed?: number;
}

export function defaultSamplesPath(a: {
  model: string;
  adapter?: string;
  task: string;
  split: string;
  n: number;
  seed: number;
  resultsDir: string;
}): string {
  if (a.adapter) return path.join(path.dirname(path.resolve(a.adapter)), `eval--${a.task}--${a.split}.samples.jsonl`);
  const slug = a.model
    .replace(/[\\/]+$/, "")
    .split(/[\\/]/)
    .slice(-2)
    .join("--")
    .replace(/[^\w.-]+/g, "-");
  return path.join(a.resultsDir, "eval", slug, `${a.task}--${a.split}--n${a.n}--s${a.seed}.samples.jsonl`);
}

/** Where an evaluation keeps its samples while it runs: <results-dir>/eval/.partial/<hash of what it depends on>.jsonl. */
export function resumeFileFor(
  a: EvalArgs,
  dataDir: string,
  seed: number,
  backend: string,
): { file: string; key: string } {
  const adapterFiles = a.adapter
    ? ["adapter_config.json", "adapter_model.safetensors"].map((f) => path.join(a.adapter!, f))
    : [];
  const adapterStamp = adapterFiles.map((f) =>
    fs.existsSync(f) ? `${fs.statSync(f).size}:${fs.statSync(f).mtimeMs}` : "-",
  );
  const key = JSON.stringify({
    model: a.model,
    adapter: a.adapter ? path.resolve(a.adapter) : null,
    adapterStamp,
    task: a.task,
    split: a.split ?? null,
    limit: a.limit ?? null,
    seed,
    numFewshot: a["num-fewshot"] ?? null,
    maxNewTokens: a["max-new-tokens"] ?? null,
    batchSize: a["batch-size"] ?? null,
    backend,
    dataDir: path.resolve(dataDir),
  });
  const file = path.join(
    path.resolve(a["results-dir"]),
    "eval",
    ".partial",
    `${createHash("sha256").update(key).digest("hex").slice(0, 20)}.jsonl`,
  );
  return { file, key };
}

export function formatMetricsTable(task: string, split: string, n: number, metrics: Record<string, number>): string {
  const rows: string[][] = [];
  for (const [key, value] of Object.entries(metrics)) {
    const [metric, filter] = key.split(",") as [string, string];
    if (metric.endsWith("_stderr")) continue;
    const se = metrics[`${metric}_stderr,${filter}`];
    rows.push([
      task,
      split,
      String(n),
      filter,
      metric,
      value.toFixed(4),
      se === undefined || Number.isNaN(se) ? "N/A" : se.toFixed(4),
    ]);
  }
  const head = ["task", "split", "n", "filter", "metric", "value", "stderr"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: "eval",
  describe: "evaluate a base model or a LoRA adapter on a task, as lm-evaluation-harness does",
  builder: (y) =>
    y
      .option("model", { type: "string", demandOption: true, describe: "local HF folder or hub id" })
      .option("adapter", { type: "string", describe: "PEFT adapter folder to apply" })
      .option("task", { type: "string", demandOption: true, describe: "task name (see `list`)" })
      .option("limit", { type: "number", describe: "evaluate a seeded random subsample of N docs" })
      .option("split", {
        choices: ["train", "validation", "test"] as const,
        describe: "override the task's evaluation split",
      })
      .option("num-fewshot", { type: "number", describe: "few-shot examples per doc (default: the task's)" })
      .option("batch-size", { type: "number", default: 16, describe: "log-likelihood requests per forward pass" })
      .option("max-new-tokens", { type: "number", describe: "generation budget (default: the task's)" })
      .option("json", {
        type: "boolean",
        default: false,
        describe: "print one JSON object {task, n, metrics} on stdout",
      })
      .option("samples", { type: "string", describe: "where to write per-sample records (JSONL)" }) as never,
  handler: async (a) => {
    const { getTask } = await import("../tasks/index.ts");
    const { evaluateTask, rescore } = await import("../eval/evaluate.ts");
    const { loadLanguageModel } = await import("../eval/model-lm.ts");
    const { baseModelMismatch } = await import("../lora/adapter-config.ts");
    const task = getTask(a.task); // unknown names fail before the model loads
    const dataDir = a["data-dir"] ?? "datasets";
    const seed = a.seed ?? 0;
    const t0 = Date.now();
    if (a.adapter) {
      const warning = baseModelMismatch(a.adapter, a.model); // also fails fast on a missing or bad adapter folder
      if (warning) console.error(warning);
    }
    const lm = await loadLanguageModel(a.model, await initBackend(a.backend as BackendChoice), {
      adapter: a.adapter,
      batchSize: a["batch-size"],
    });
    try {
      let lastPct = -1;
      const onProgress = (done: number, total: number) => {
        const pct = Math.floor((100 * done) / Math.max(1, total));
        if (pct === lastPct) return;
        lastPct = pct;
        process.stderr.write(`\r${task.name}: ${done}/${total} requests (${pct}%)${done >= total ? "\n" : ""}`);
      };
      // Per-document resume: an interrupted evaluation continues from the documents already scored (same model,
      // adapter bytes, task and settings → same file).
      const resume = resumeFileFor(a, dataDir, seed, lm.backend);
      const kept = fs.existsSync(resume.file)
        ? fs.readFileSync(resume.file, "utf8").split("\n").filter(Boolean).length - 1
        : 0;
      if (kept > 0) console.error(`resuming: ${kept} document(s) already scored in ${resume.file}`);
      const r = await evaluateTask(lm, task, {
        dataDir,
        seed,
        limit: a.limit ?? null,
        split: a.split,
        numFewshot: a["num-fewshot"],
        batchSize: a["batch-size"],
        maxNewTokens: a["max-new-tokens"],
        onProgress,
        resume,
      });
      const samplesFile = path.resolve(
        a.samples ??
          defaultSamplesPath({
            model: a.model,
            adapter: a.adapter,
            task: task.name,
            split: r.split,
            n: r.n,
            seed,
            resultsDir: a["results-dir"],
          }),
      );
      fs.mkdirSync(path.dirname(samplesFile), { recursive: true });
      fs.writeFileSync(samplesFile, r.samples.map((s) => JSON.stringify(s)).join("\n") + "\n");
      // The written records must reproduce the metrics; a mismatch is a bug, not a rounding issue.
      const again = rescore(r.samples);
      for (const [k, v] of Object.entries(r.metrics)) {
        if (!(Object.is(again[k], v) || Math.abs((again[k] ?? NaN) - v) < 1e-12))
          throw new Error(`internal: rescoring the samples gives ${k}=${again[k]} but the evaluation gave ${v}`);
      }
      fs.rmSync(resume.file, { force: true });
      console.error(
        `${task.name} (${r.split}, n=${r.n}, ${r.numFewshot}-shot, backend ${lm.backend}) in ${((Date.now() - t0) / 1000).toFixed(1)}s; data: ${r.files.join(", ")}`,
      );
      console.error(`samples: ${samplesFile}`);
      if (a.json) console.log(JSON.stringify({ task: r.task, n: r.n, metrics: r.metrics }));
      else console.log(formatMetricsTable(r.task, r.split, r.n, r.metrics));
    } finally {
      lm.dispose();
    }
  },
};
