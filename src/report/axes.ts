// Which axes an experiment sweeps, read back from the runs' config.json files: the model (one table block per
// model), the optimizer plus whichever hyperparameters vary (the table rows), the evaluation tasks (the columns) and
// the seed (aggregated). Nothing is declared by the experiment; varying config keys are detected here.
import * as path from "node:path";
import type { LoadedRun } from "./load.ts";
import { OPTIMIZER_NAMES } from "../optim/types.ts";
import type { OptimizerName } from "../optim/types.ts";
import type { RunConfig } from "../config.ts";
import { lrExponents, lrScalingLabel, primaryExponent } from "./lr-scaling.ts";
import { QA_TASK_NAMES } from "../tasks/types.ts";

/** Optimizer hyperparameters that mean something only for that optimizer (the rest are ignored when comparing). */
const OPTIMIZER_SPECIFIC: Record<string, OptimizerName> = {
  lambda: "stable-lora",
  stopCondition: "stable-lora",
  lrRatio: "lora-plus",
  delta: "riemannian",
  clipUnmagnifiedGrad: "lora-rite",
  updateSkipping: "lora-rite",
  updateCapping: "lora-rite",
};

/** Config keys that never split rows: bookkeeping, or axes handled elsewhere (model = block, seed = aggregated). */
const IGNORED_PREFIXES = [
  "seed",
  "backend",
  "dataDir",
  "model",
  "task",
  "data",
  "eval.",
  "stability.",
  "train.logEvery",
  "train.checkpointEvery",
];

export const OPTIMIZER_LABELS: Record<string, string> = {
  adamw: "AdamW",
  "lora-plus": "LoRA+",
  riemannian: "Riemannian",
  "lora-rite": "LoRA-RITE",
  "stable-lora": "Stable-LoRA",
};

/** lm-eval task order used by the paper's tables; others follow alphabetically. */
export const TASK_ORDER: readonly string[] = [...QA_TASK_NAMES, "gsm8k"];
export const QA_TASKS: readonly string[] = QA_TASK_NAMES;

export interface RunAxes {
  readonly run: LoadedRun;
  readonly config: RunConfig;
  readonly model: string;
  /** Training task (config.task), or the data file's base name, or "—". */
  readonly task: string;
  readonly optimizer: string;
  readonly seed: number;
  /** Row identity within a block: optimizer + varying hyperparameters (+ training task when it is ambiguous). */
  readonly rowKey: string;
  readonly rowLabel: string;
  /** Everything that varies except the optimizer and its hyperparameters: what a paired comparison matches on. */
  readonly matchKey: string;
  /** Varying keys → value, for CSV columns. */
  readonly setting: Record<string, string>;
  /** Tasks this run is (or will be) evaluated on: eval.jsonl's tasks, else config.eval.tasks, else the training task. */
  readonly evalTasks: string[];
  /** Exponents e of η = η0·(n/n0)^(−e) this run belongs to (lr-scaling.ts); null when lr is not scaled with width. */
  readonly lrExponents: number[] | null;
}

export interface ExperimentAxes {
  readonly runs: RunAxes[];
  /** Runs without a usable config.json (shown in the run list only). */
  readonly invalid: LoadedRun[];
  readonly models: string[];
  readonly tasks: string[];
  readonly evalTasks: string[];
  /** Varying config keys (dotted), in display order. */
  readonly varying: string[];
  /** True when the training task is part of the row identity (runs trained on different tasks share an eval task). */
  readonly taskInRow: boolean;
}

type ConfiguredRun = LoadedRun & { config: RunConfig };

/** The training task of a run: its task, or the name of its data file. */
const taskOf = (c: RunConfig) => c.task ?? (c.data ? path.basename(c.data).replace(/\.jsonl?$/, "") : "—");

/** The tasks a run was evaluated on: from eval.jsonl, else summary.json, else its config. */
function evalTasksOf(r: ConfiguredRun): string[] {
  const fromEval = [...new Set(r.evals.map((e) => e.task))];
  if (fromEval.length) return sortTasks(fromEval);
  if (r.summary?.final && Object.keys(r.summary.final).length) return sortTasks(Object.keys(r.summary.final));
  if (r.config.eval?.tasks?.length) return sortTasks(r.config.eval.tasks);
  return r.config.task ? [r.config.task] : [];
}

/** The config keys (dotted) that take more than one value among the runs, in display order. */
function varyingKeys(withConfig: readonly ConfiguredRun[], flat: readonly Record<string, string>[]): string[] {
  const allKeys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  // An optimizer-specific key (λ, lrRatio, …) varies only if it takes two values among that optimizer's runs; any
  // other optimizer.* key except lr (e.g. eps, set per optimizer as in the RITE port) only if it varies within
  // some optimizer's runs — a row is already one optimizer.
  return allKeys.filter((k) => {
    if (k === "optimizer.name") return false;
    if (k.startsWith("optimizer.") && k !== "optimizer.lr" && !OPTIMIZER_SPECIFIC[k.split(".").pop()!]) {
      const byOpt = new Map<string, Set<string>>();
      flat.forEach((f, i) => {
        const o = withConfig[i]!.config.optimizer.name;
        if (!byOpt.has(o)) byOpt.set(o, new Set());
        byOpt.get(o)!.add(f[k] ?? "∅");
      });
      return [...byOpt.values()].some((v) => v.size > 1);
    }
    const owner = OPTIMIZER_SPECIFIC[k.split(".").pop()!];
    const vals = flat
      .filter((_, i) => !k.startsWith("optimizer.") || !owner || withConfig[i]!.config.optimizer.name === owner)
      .map((f) => f[k] ?? "∅");
    return new Set(vals).size > 1;
  });
}

/** The training task splits rows only when two runs that differ only in it land in the same table cell. */
function trainingTaskInRow(
  withConfig: readonly ConfiguredRun[],
  flat: readonly Record<string, string>[],
  varying: readonly string[],
): boolean {
  const cellOwners = new Map<string, Set<string>>();
  withConfig.forEach((r, i) => {
    const base = `${r.config.model}|${r.config.optimizer.name}|${varying.map((k) => flat[i]![k] ?? "∅").join("|")}|${r.config.seed}`;
    for (const t of evalTasksOf(r)) {
      const key = `${base}|${t}`;
      if (!cellOwners.has(key)) cellOwners.set(key, new Set());
      cellOwners.get(key)!.add(taskOf(r.config));
    }
  });
  return [...cellOwners.values()].some((s) => s.size > 1);
}

export function describeRuns(runs: readonly LoadedRun[]): ExperimentAxes {
  const withConfig = runs.filter(
    (r): r is ConfiguredRun => r.config !== null && typeof r.config === "object" && !!r.config.optimizer,
  );
  const invalid = runs.filter((r) => !withConfig.includes(r as ConfiguredRun));

  const flat = withConfig.map((r) => relevantLeaves(r.config));
  const varying = varyingKeys(withConfig, flat);
  const taskInRow = trainingTaskInRow(withConfig, flat, varying);

  // A learning rate scaled with width (η = η0·(n/n0)^(−e)) is shown and matched as its exponent e, not as the
  // raw lr value of each width (lr-scaling.ts); rows then read "AdamW, η ∝ n^−0.5".
  const exps = lrExponents(
    withConfig.map((r, i) => ({
      group: [
        r.config.optimizer.name,
        ...varying.filter((k) => k !== "optimizer.lr").map((k) => `${k}=${flat[i]![k] ?? "∅"}`),
      ].join("|"),
      width: r.hiddenSize,
      lr: r.config.optimizer.lr,
    })),
  );
  const lrScaled =
    varying.includes("optimizer.lr") && exps.every((e) => e !== null) && exps.some((e) => e!.some((x) => x !== 0));
  if (lrScaled) varying.splice(varying.indexOf("optimizer.lr"), 1, LR_SCALING_KEY);

  const out: RunAxes[] = withConfig.map((r, i) => {
    const f = { ...flat[i]! };
    if (lrScaled) f[LR_SCALING_KEY] = String(primaryExponent(exps[i]!));
    const optimizer = r.config.optimizer.name;
    const setting: Record<string, string> = {};
    for (const k of varying) setting[k] = f[k] ?? "";
    const rowParts = varying
      .filter((k) => f[k] !== undefined)
      .map((k) => formatSetting(k, f[k]!))
      .filter(Boolean);
    if (taskInRow) rowParts.unshift(`trained on ${taskOf(r.config)}`);
    const nonOptimizer = varying.filter((k) => !k.startsWith("optimizer.") || k === LR_SCALING_KEY);
    const matchKey = [
      r.config.model,
      taskInRow ? taskOf(r.config) : "",
      ...nonOptimizer.map((k) => `${k}=${f[k] ?? "∅"}`),
    ].join("|");
    const rowKey = [optimizer, taskInRow ? taskOf(r.config) : "", ...varying.map((k) => `${k}=${f[k] ?? "∅"}`)].join(
      "|",
    );
    return {
      run: r,
      config: r.config,
      model: r.config.model,
      task: taskOf(r.config),
      optimizer,
      seed: r.config.seed,
      rowKey,
      rowLabel: [OPTIMIZER_LABELS[optimizer] ?? optimizer, ...rowParts].join(", "),
      matchKey,
      setting,
      evalTasks: evalTasksOf(r),
      lrExponents: exps[i] ?? null,
    };
  });

  return {
    runs: out.sort(compareRuns),
    invalid,
    models: [...new Set(out.map((r) => r.model))].sort(naturalCompare),
    tasks: sortTasks([...new Set(out.map((r) => r.task))]),
    evalTasks: sortTasks([...new Set(out.flatMap((r) => r.evalTasks))]),
    varying,
    taskInRow,
  };
}

/** The pseudo-setting that replaces optimizer.lr when the learning rate is scaled with width (its value: e). */
export const LR_SCALING_KEY = "optimizer.lrScaling";

/** Flattened config leaves that can distinguish runs (optimizer-specific keys only for their optimizer). */
function relevantLeaves(c: RunConfig): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (obj: unknown, prefix: string) => {
    if (obj !== null && typeof obj === "object" && !Array.isArray(obj)) {
      for (const [k, v] of Object.entries(obj)) walk(v, prefix ? `${prefix}.${k}` : k);
      return;
    }
    if (IGNORED_PREFIXES.some((p) => (p.endsWith(".") ? prefix.startsWith(p) : prefix === p))) return;
    const leaf = prefix.split(".").pop()!;
    if (prefix.startsWith("optimizer.") && OPTIMIZER_SPECIFIC[leaf] && OPTIMIZER_SPECIFIC[leaf] !== c.optimizer.name)
      return;
    out[prefix] = Array.isArray(obj) ? obj.join(",") : String(obj);
  };
  walk(c, "");
  return out;
}

/** Paper vocabulary for target sets: q_proj,v_proj → "qv"; all seven → "qkvogud". */
export function targetsShort(targets: string): string {
  return targets
    .split(",")
    .map((t) => t.trim()[0] ?? "")
    .join("");
}

/** A readable label for one varying setting, e.g. "λ=1e-3", "targets qkvo", "w/o stability condition". */
export function formatSetting(key: string, value: string): string {
  const leaf = key.split(".").pop()!;
  switch (key) {
    case "optimizer.lambda":
      return `λ=${formatNumber(value)}`;
    case "optimizer.stopCondition":
      return value === "false" ? "w/o stability condition" : "";
    case "optimizer.lr":
      return `lr=${formatNumber(value)}`;
    case LR_SCALING_KEY:
      return lrScalingLabel(Number(value));
    case "lora.targets":
      return `targets ${targetsShort(value)}`;
    case "train.steps":
      return `${value} steps`;
    case "lora.r":
      return `r=${value}`;
    default:
      return `${leaf}=${formatNumber(value)}`;
  }
}

function formatNumber(v: string): string {
  const x = Number(v);
  if (!Number.isFinite(x) || v === "" || /[a-z,]/i.test(v.replace(/e-?\d+$/i, ""))) return v;
  if (x !== 0 && (Math.abs(x) < 1e-2 || Math.abs(x) >= 1e5))
    return x
      .toExponential()
      .replace(/\.?0+e/, "e")
      .replace("e+", "e");
  return String(x);
}

export function sortTasks(tasks: string[]): string[] {
  const rank = (t: string) => (TASK_ORDER.includes(t) ? TASK_ORDER.indexOf(t) : TASK_ORDER.length);
  return [...tasks].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export function optimizerRank(name: string): number {
  const i = (OPTIMIZER_NAMES as readonly string[]).indexOf(name);
  return i < 0 ? OPTIMIZER_NAMES.length : i;
}

function compareRuns(a: RunAxes, b: RunAxes): number {
  return (
    naturalCompare(a.model, b.model) ||
    optimizerRank(a.optimizer) - optimizerRank(b.optimizer) ||
    compareRowKeys(a.rowKey, b.rowKey) ||
    a.task.localeCompare(b.task) ||
    a.seed - b.seed ||
    naturalCompare(a.run.runId, b.run.runId)
  );
}

/**
 * Natural order: digit runs compare by value, the rest case-insensitively ("d=64" < "d=128" < "d=512",
 * "Qwen2-0.5B" < "Qwen2-1.5B"). Used wherever models, widths or series are listed.
 */
export function naturalCompare(a: string, b: string): number {
  const ta = a.match(/\d+(?:\.\d+)?|\D+/g) ?? [];
  const tb = b.match(/\d+(?:\.\d+)?|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    if (x === y) continue;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy && Number(x) !== Number(y)) return Number(x) - Number(y);
    const c = x.localeCompare(y, "en", { sensitivity: "base" });
    if (c) return c;
  }
  return ta.length - tb.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Row keys compare field by field, numerically where both fields are numbers (λ=5e-4 before λ=1e-3). */
export function compareRowKeys(a: string, b: string): number {
  const fa = a.split("|");
  const fb = b.split("|");
  for (let i = 0; i < Math.max(fa.length, fb.length); i++) {
    const va = (fa[i] ?? "").split("=").pop()!;
    const vb = (fb[i] ?? "").split("=").pop()!;
    if (va === vb) continue;
    const na = Number(va);
    const nb = Number(vb);
    if (va !== "" && vb !== "" && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
    // "true" before "false": the paper's method first, its ablation second.
    if ((va === "true" && vb === "false") || (va === "false" && vb === "true")) return va === "true" ? -1 : 1;
    return va.localeCompare(vb);
  }
  return 0;
}

/** Module types in the order of a decoder layer (attention, then MLP); unknown types after, alphabetically. */
export const MODULE_ORDER = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

export function compareModuleTypes(a: string, b: string): number {
  const rank = (t: string) => (MODULE_ORDER.includes(t) ? MODULE_ORDER.indexOf(t) : MODULE_ORDER.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/** "model.layers.3.self_attn.q_proj" → { layer: 3, type: "q_proj" }. */
export function parseModule(name: string): { layer: number | null; type: string } {
  const layer = /(?:^|\.)layers\.(\d+)\./.exec(name);
  return { layer: layer ? Number(layer[1]) : null, type: name.split(".").pop() ?? name };
}
