// `list`: what this installation can run — experiments, tasks, optimizers, model presets and backends.
import type { CommandModule } from "yargs";
import { OPTIMIZER_NAMES } from "../optim/types.ts";
import { LORA_TARGETS } from "../config.ts";
import type { ExperimentRegistry } from "../sweep.ts";

export const listCommand = (experiments: ExperimentRegistry): CommandModule => ({
  command: "list",
  describe: "list experiments, tasks, models, optimizers and backends",
  handler: async () => {
    const { TASK_NAMES } = await import("../tasks/index.ts");
    const { MODEL_PRESETS } = await import("../models/presets.ts");
    const { probeBackends } = await import("../backend.ts");
    const lines: string[] = [];
    lines.push("experiments:");
    for (const e of Object.values(experiments)) lines.push(`  ${e.name.padEnd(20)} ${e.description}`);
    lines.push("tasks:", `  ${TASK_NAMES.join(", ")}`);
    lines.push("optimizers:", `  ${OPTIMIZER_NAMES.join(", ")}`);
    lines.push("lora targets:", `  ${LORA_TARGETS.join(", ")}`);
    lines.push("model presets (hub id → shape; any local HF Llama/Qwen2 folder works too):");
    for (const [id, p] of Object.entries(MODEL_PRESETS)) lines.push(`  ${id.padEnd(28)} ${p.summary}`);
    lines.push("backends:");
    for (const b of await probeBackends()) {
      lines.push(`  ${b.name.padEnd(11)} ${b.available ? "available" : "unavailable"}  ${b.detail}`);
      if (b.gpu) {
        const g = b.gpu;
        lines.push(
          `  ${"".padEnd(11)} adapter: vendor ${g.vendor || "?"}, architecture ${g.architecture || "?"}, device ${g.device || "?"}, description ${g.description || "?"}${g.software ? " — software (auto skips it)" : ""}`,
        );
        lines.push(
          `  ${"".padEnd(11)} limits: maxBufferSize ${g.maxBufferSize}, maxStorageBufferBindingSize ${g.maxStorageBufferBindingSize}`,
        );
      }
    }
    console.log(lines.join("\n"));
  },
});
