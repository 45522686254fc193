// The Stable-LoRA paper's published numbers (arXiv 2603.05204; sources and caveats: docs/paper.md §0, §5),
// keyed by model, setting and optimizer so a table can show a "paper" column and our delta where we ran the same
// thing. The paper reports the best of 3 seeds; per-task columns of Table 1 and most of Table 2 were not retrievable.
import { QA_TASK_NAMES } from "../tasks/types.ts";

/** Normalised model keys used by the paper's tables ("0.5B", "1B", "1.5B", "3B"). */
export type PaperModel = "qwen2-0.5b" | "llama-3.2-1b" | "qwen2-1.5b" | "llama-3.2-3b";

/** Map a hub id or path (base or -Instruct; the paper does not say which) to the paper's model, or null. */
export function paperModel(model: string): PaperModel | null {
  const m = model.toLowerCase();
  if (/qwen-?2[-_.]0\.5b/.test(m)) return "qwen2-0.5b";
  if (/qwen-?2[-_.]1\.5b/.test(m)) return "qwen2-1.5b";
  if (/llama-?3\.2[-_]1b/.test(m)) return "llama-3.2-1b";
  if (/llama-?3\.2[-_]3b/.test(m)) return "llama-3.2-3b";
  return null;
}

/**
 * Table 1 (docs/paper.md §5): average accuracy (%) over HellaSwag, SocialIQa, OBQA, ARC-E, ARC-C;
 * one adapter per task; q,v.
 */
export const TABLE1_QA_AVERAGE: Record<PaperModel, Record<string, number>> = {
  "qwen2-0.5b": { adamw: 61.94, "lora-plus": 62.55, riemannian: 61.48, "lora-rite": 61.85, "stable-lora": 64.01 },
  "llama-3.2-1b": { adamw: 71.9, "lora-plus": 71.36, riemannian: 69.07, "lora-rite": 71.04, "stable-lora": 72.52 },
  "qwen2-1.5b": { adamw: 81.11, "lora-plus": 81.02, riemannian: 80.25, "lora-rite": 81.08, "stable-lora": 81.95 },
  "llama-3.2-3b": { adamw: 83.53, "lora-plus": 83.42, riemannian: 82.91, "lora-rite": 83.32, "stable-lora": 84.03 },
};

/** Table 2 (docs/paper.md §5): MetaMathQA → GSM8K accuracy (%); only the 3B @ 5000 steps point was retrievable. */
export const TABLE2_GSM8K: { model: PaperModel; steps: number; values: Record<string, number> }[] = [
  { model: "llama-3.2-3b", steps: 5000, values: { adamw: 58.83, "stable-lora": 59.44 } },
];

/**
 * Table 4 (docs/paper.md §5): merged-QA training, 5-task average (%): with and without the stability (stop) condition.
 */
export const TABLE4_STOP_CONDITION: Record<PaperModel, { withCondition: number; withoutCondition: number }> = {
  "qwen2-0.5b": { withCondition: 62.46, withoutCondition: 62.52 },
  "llama-3.2-1b": { withCondition: 72.8, withoutCondition: 72.72 },
  "qwen2-1.5b": { withCondition: 80.75, withoutCondition: 80.61 },
  "llama-3.2-3b": { withCondition: 84.13, withoutCondition: 84.1 },
};

/** The target-module ablation (docs/paper.md §5), merged QA, LLaMA-3.2 3B only. Keys are the paper's target sets. */
export const TARGETS_3B: Record<string, Record<string, number>> = {
  qv: { adamw: 83.79, "stable-lora": 84.13 },
  qkvo: { adamw: 84.54, "stable-lora": 84.93 },
  qkvogud: { adamw: 85.31, "stable-lora": 85.6 },
};

/**
 * Overheads (docs/paper.md §5): wall-clock training time relative to AdamW (%),
 * Qwen2-0.5B on HellaSwag (AdamW 217.4 s).
 */
export const OVERHEAD_TIME_PCT: Record<string, number> = {
  adamw: 0,
  "lora-plus": 0.0,
  riemannian: 8.3,
  "lora-rite": 46.0,
  "stable-lora": 0.6,
};
export const OVERHEAD_SETTING = "Qwen2-0.5B on HellaSwag, wall-clock training time (AdamW = 217.4 s)";

/** How an experiment's runs were trained for QA: one adapter per task (Table 1) or one on the merged QA set (Table 4). */
export type QaSetting = "per-task" | "merged" | "other";

export interface PaperQuery {
  model: string;
  optimizer: string;
  /** lora.targets as "q_proj,v_proj". */
  targets: string;
  stopCondition: boolean;
  /** train.steps of the row's runs (single value) or null when mixed. */
  steps: number | null;
  /** Evaluation tasks of the block (the average is comparable only over the paper's five QA tasks). */
  evalTasks: string[];
  setting: QaSetting;
}

export interface PaperValue {
  value: number;
  /** Where the number comes from, for a footnote. */
  source: string;
}

const QA5: readonly string[] = QA_TASK_NAMES;

/** The paper's 5-task QA average for this row, when the setting matches one of the paper's tables. */
export function paperQaAverage(q: PaperQuery): PaperValue | null {
  const pm = paperModel(q.model);
  if (!pm) return null;
  const tasks = [...q.evalTasks].sort().join(",");
  if (tasks !== [...QA5].sort().join(",")) return null;
  const targets = targetsKey(q.targets);
  if (q.setting === "per-task") {
    if (targets !== "qv" || !q.stopCondition) return null;
    const v = TABLE1_QA_AVERAGE[pm][q.optimizer];
    return v === undefined ? null : { value: v, source: "Table 1 (per-task adapters, q,v, best of 3 seeds)" };
  }
  if (q.setting === "merged") {
    if (pm === "llama-3.2-3b" && TARGETS_3B[targets]?.[q.optimizer] !== undefined && q.stopCondition) {
      return {
        value: TARGETS_3B[targets]![q.optimizer]!,
        source: `target-module ablation (merged QA, ${targets}, 3B)`,
      };
    }
    if (q.optimizer === "stable-lora" && targets === "qv") {
      const t4 = TABLE4_STOP_CONDITION[pm];
      return q.stopCondition
        ? { value: t4.withCondition, source: "Table 4 (merged QA, with stability condition)" }
        : { value: t4.withoutCondition, source: "Table 4 (merged QA, w/o stability condition)" };
    }
  }
  return null;
}

/** The paper's GSM8K accuracy for this row (model, optimizer, training steps), if it was published. */
export function paperGsm8k(q: Pick<PaperQuery, "model" | "optimizer" | "steps">): PaperValue | null {
  const pm = paperModel(q.model);
  const hit = TABLE2_GSM8K.find((e) => e.model === pm && e.steps === q.steps);
  const v = hit?.values[q.optimizer];
  return v === undefined
    ? null
    : { value: v, source: `Table 2 (MetaMathQA → GSM8K, ${q.steps} steps, best of 3 seeds)` };
}

/** The paper's time overhead vs AdamW (%), shown for any model but matched exactly only for Qwen2-0.5B. */
export function paperOverhead(model: string, optimizer: string): (PaperValue & { sameModel: boolean }) | null {
  const v = OVERHEAD_TIME_PCT[optimizer];
  if (v === undefined) return null;
  return { value: v, source: OVERHEAD_SETTING, sameModel: paperModel(model) === "qwen2-0.5b" };
}

/** "q_proj,v_proj" → "qv" (order-insensitive: q,k,v,o,g,u,d as in the paper). */
export function targetsKey(targets: string): string {
  const order = "qkvogud";
  const letters = targets.split(",").map((t) => t.trim()[0] ?? "");
  return [...new Set(letters)].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join("");
}
