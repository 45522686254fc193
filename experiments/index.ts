// The experiment registry: name → definition, explicit imports (no globbing), in the order `list` shows them.
import type { ExperimentRegistry } from "../src/sweep.ts";
import { quickstart } from "./quickstart.ts";
import { widthStudy } from "./width-study.ts";
import { miniQa } from "./mini-qa.ts";
import { table1Qa } from "./table1-qa.ts";
import { table2Gsm8k } from "./table2-gsm8k.ts";
import { ablationCondition } from "./ablation-condition.ts";
import { ablationTargets } from "./ablation-targets.ts";
import { lambdaSweep } from "./lambda-sweep.ts";
import { overhead } from "./overhead.ts";

export const EXPERIMENTS: ExperimentRegistry = Object.fromEntries(
  [
    quickstart,
    widthStudy,
    miniQa,
    table1Qa,
    table2Gsm8k,
    ablationCondition,
    ablationTargets,
    lambdaSweep,
    overhead,
  ].map((e) => [e.name, e]),
);
