// Child-process entry of `run.ts bench`: runs ONE case on a fresh tfjs backend, so its peak RSS and its 4 GiB wasm
// heap are its own, and prints one JSON line (a CaseResult) as the last line of stdout; progress goes to stderr.
// Usage: node --import tsx src/bench/run-case.ts '{"name": "llama-4x256", "batch": 8, "backend": "auto", ...}'
// A failure is reported as a result (status "failed" or "out-of-memory"), never as a crash without output.
import { initBackend, type BackendChoice } from "../backend.ts";
import { benchCases } from "./cases.ts";
import { measureCase } from "./measure.ts";
import type { CaseResult } from "./types.ts";

export interface CaseJob {
  name: string;
  batch: number;
  backend: BackendChoice;
  sharedDir: string;
  steps?: number;
}

/** Errors that mean "this batch does not fit": the wasm heap (4 GiB), the JS heap, or a typed-array allocation. */
export function isOutOfMemory(e: unknown): boolean {
  const msg = String(e instanceof Error ? `${e.name}: ${e.message}` : e);
  return /out of memory|OOM|Cannot enlarge memory|Array buffer allocation failed|Invalid typed array length|memory access out of bounds|allocation failed|Aborted\(/i.test(
    msg,
  );
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as CaseJob;
  const c = benchCases(job.sharedDir).find((x) => x.name === job.name);
  const rss = () => process.resourceUsage().maxRSS / 1024;
  let result: CaseResult;
  let backend = job.backend as string;
  try {
    if (!c) throw new Error(`bench: unknown case "${job.name}"`);
    const info = await initBackend(job.backend);
    backend = `${info.name} (${info.detail})`;
    result = await measureCase(c, { batch: job.batch, steps: job.steps, backend });
  } catch (e) {
    const oom = isOutOfMemory(e);
    result = {
      name: job.name,
      kind: c?.kind ?? "train",
      status: oom ? "out-of-memory" : "failed",
      backend,
      batch: job.batch,
      error: e instanceof Error ? `${e.name}: ${e.message}`.split("\n")[0] : String(e),
      peakRssMB: rss(),
    };
    if (process.env.LORA_LAB_DEBUG) console.error(e);
  }
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
  process.exit(0); // the wasm backend keeps no handles, but do not wait on any
}
