// The task registry: lm-eval task name → TaskSpec. Explicit imports, one file per task (ARC's two configs share one).
import { arcChallenge, arcEasy } from "./arc.ts";
import { gsm8k, gsm8kLmEval } from "./gsm8k.ts";
import { hellaswag } from "./hellaswag.ts";
import { metamathqa } from "./metamathqa.ts";
import { openbookqa } from "./openbookqa.ts";
import { socialIqa } from "./social-iqa.ts";
import { ensureSyntheticData, synthetic } from "./synthetic.ts";
import { TASK_NAMES, type TaskName, type TaskSpec } from "./types.ts";

export const TASKS: { readonly [K in TaskName]: TaskSpec } = {
  hellaswag,
  social_iqa: socialIqa,
  openbookqa,
  arc_easy: arcEasy,
  arc_challenge: arcChallenge,
  gsm8k,
  gsm8k_lm_eval: gsm8kLmEval,
  metamathqa,
  // Generated on first use under <dataDir>/synthetic/ (the offline quickstart task).
  synthetic: { ...synthetic, prepare: (dataDir: string) => void ensureSyntheticData(dataDir) },
};

/** Pseudo-task for training: the five QA train sets in one seeded shuffle (the paper's merged-QA ablations). */
export const MERGED_QA = "merged_qa";

export class UnknownTaskError extends Error {
  override name = "UnknownTaskError";
}

export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

export function getTask(name: string): TaskSpec {
  if (!isTaskName(name)) {
    const hint = name === "siqa" || name === "socialiqa" ? ` (SocialIQa is "social_iqa", as in lm-eval)` : "";
    throw new UnknownTaskError(
      `unknown task "${name}"${hint}. Known tasks: ${TASK_NAMES.join(", ")} (and "${MERGED_QA}" for training)`,
    );
  }
  return TASKS[name];
}
