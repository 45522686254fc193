// `bench [--only NAME]… [--json] [--steps N]`: the performance suite (src/bench/): LoRA step throughput, GFLOP/s and
// MFU against the PyTorch peer, eval throughput, optimizer and logging overheads, peak memory. Writes
// <results-dir>/bench/<date>/bench.json and bench.md. A benchmark, never a timed unit test.
import type { CommandModule } from "yargs";
import type { BackendChoice } from "../backend.ts";
import { asList } from "./common.ts";

export const benchCommand: CommandModule = {
  command: "bench",
  describe: "performance suite: throughput vs PyTorch, MFU, eval speed, optimizer/logging overheads, memory",
  builder: (y) =>
    y
      .option("only", {
        type: "string",
        array: true,
        describe: "run only these cases (repeatable), e.g. --only llama-4x256; `--only list` lists them",
      })
      .option("json", { type: "boolean", default: false, describe: "print bench.json to stdout" })
      .option("steps", { type: "number", describe: "timed steps per case (default: each case's own, 1–6)" })
      .option("peer", {
        type: "boolean",
        default: true,
        describe: "run the PyTorch peer when /usr/bin/python3 has torch (--no-peer: skip)",
      }),
  handler: async (argv) => {
    const { runBench } = await import("../bench/suite.ts");
    const only = asList(argv.only)
      .flatMap((s) => s.split(","))
      .filter(Boolean);
    if (only.includes("list")) {
      const path = await import("node:path");
      const { benchCases } = await import("../bench/cases.ts");
      for (const c of benchCases(path.resolve("../shared")))
        console.log(
          `${c.name.padEnd(20)} ${c.kind.padEnd(14)} ${c.hidden ? "(only with --only) " : ""}${c.note ?? ""}`,
        );
      return;
    }
    const steps = argv.steps === undefined ? undefined : Number(argv.steps);
    if (steps !== undefined && !(Number.isInteger(steps) && steps >= 1))
      throw new Error(`bench --steps must be a positive integer, got ${String(argv.steps)}`);
    const res = await runBench({
      only,
      steps,
      backend: String(argv.backend ?? "auto") as BackendChoice,
      resultsDir: String(argv["results-dir"] ?? "results"),
      peer: argv.peer !== false,
    });
    if (argv.json) console.log(JSON.stringify(res.rows, null, 2));
    else
      console.log(
        `\nbench: ${res.rows.filter((r) => r.status === "ok").length}/${res.rows.length} cases ok → ${res.jsonFile}, ${res.reportFile}`,
      );
    if (res.rows.some((r) => r.status === "failed")) process.exitCode = 1;
  },
};
