// `score --model M [--adapter DIR] --input F.jsonl [--output F] [--batch-size N]`: lm-eval's `loglikelihood`
// request type from the command line. Each input line {"context", "continuation"} becomes one output line
// {"logprob", "isGreedy"}, in input order, on stdout or in --output. Progress goes to stderr.
import type { CommandModule } from "yargs";
import { initBackend, type BackendChoice } from "../backend.ts";

interface ScoreArgs {
  model: string;
  input: string;
  adapter?: string;
  output?: string;
  "batch-size": number;
  backend: string;
}

/** Score a pairs file; returns the JSONL text (one {"logprob","isGreedy"} line per input line). */
export async function scoreFile(a: {
  model: string;
  input: string;
  adapter?: string;
  batchSize?: number;
  backend?: BackendChoice;
  quiet?: boolean;
}): Promise<string> {
  const { readPairsJsonl } = await import("../tasks/pairs-file.ts");
  const { loadLanguageModel } = await import("../eval/model-lm.ts");
  const { baseModelMismatch } = await import("../lora/adapter-config.ts");
  const requests = readPairsJsonl(a.input); // bad input fails before the model is loaded
  const warning = a.adapter ? baseModelMismatch(a.adapter, a.model) : null;
  if (warning) console.error(warning);
  const lm = await loadLanguageModel(a.model, await initBackend(a.backend), {
    adapter: a.adapter,
    batchSize: a.batchSize,
  });
  try {
    const t0 = performance.now();
    const results = await lm.loglikelihood(requests, {
      onProgress:
        a.quiet || !process.stderr.isTTY
          ? undefined
          : (done, total) => process.stderr.write(`\rscored ${done}/${total} (${lm.backend})`),
    });
    if (!a.quiet)
      process.stderr.write(
        `\rscored ${results.length} requests in ${((performance.now() - t0) / 1000).toFixed(1)}s on ${lm.backend}\n`,
      );
    return results.map((r) => JSON.stringify({ logprob: r.logprob, isGreedy: r.isGreedy })).join("\n") + "\n";
  } finally {
    lm.dispose();
  }
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  command: "score",
  describe: "log-likelihood of each {context, continuation} line of a JSONL file → {logprob, isGreedy} lines",
  builder: (y) =>
    y
      .option("model", { type: "string", demandOption: true, describe: "local HF model folder or hub id" })
      .option("input", {
        type: "string",
        demandOption: true,
        describe: 'JSONL file of {"context", "continuation"} lines',
      })
      .option("adapter", { type: "string", describe: "PEFT LoRA adapter folder to apply" })
      .option("output", { type: "string", describe: "write the JSONL here instead of stdout" })
      .option("batch-size", { type: "number", default: 16, describe: "requests per forward pass" }) as never,
  handler: async (a) => {
    if (!(Number.isInteger(a["batch-size"]) && a["batch-size"] > 0))
      throw new Error(`--batch-size must be a positive integer, got ${a["batch-size"]}`);
    const text = await scoreFile({
      model: a.model,
      input: a.input,
      adapter: a.adapter,
      batchSize: a["batch-size"],
      backend: a.backend as BackendChoice,
    });
    if (a.output) {
      const { writeFileAtomic } = await import("../results.ts");
      writeFileAtomic(a.output, text);
    } else {
      process.stdout.write(text);
    }
  },
};
