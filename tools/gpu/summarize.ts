// The one JSON summary of tools/gpu/check.sh: machine, the adapter `list` found, test counts, and per bench case the
// step time, tokens/s, GFLOP/s and peak GPU memory (tfjs' buffers; host RSS too). Reads only what check.sh wrote.
import * as fs from "node:fs";
import * as path from "node:path";

const [dirArg, listRc, testsRc, resumeRc, benchRc] = process.argv.slice(2);
if (!dirArg) throw new Error("usage: tsx tools/gpu/summarize.ts DIR LIST_RC TESTS_RC RESUME_RC BENCH_RC");
const dir: string = dirArg;
const read = (f: string): string =>
  fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8").trim() : "";

/** TAP totals ("# pass N" …) and the names of failed tests. */
function tap(file: string): { pass: number; fail: number; skipped: number; failed: string[] } {
  const t = read(file);
  const n = (k: string) => Number(new RegExp(`^# ${k} (\\d+)$`, "m").exec(t)?.[1] ?? 0);
  return {
    pass: n("pass"),
    fail: n("fail"),
    skipped: n("skipped"),
    failed: [...t.matchAll(/^not ok \d+ - (.*)$/gm)].map((m) => m[1]!),
  };
}

function benchRows(): unknown[] {
  const root = path.join(dir, "bench", "bench");
  if (!fs.existsSync(root)) return [];
  const latest = fs.readdirSync(root).sort().at(-1);
  const file = latest ? path.join(root, latest, "bench.json") : "";
  if (!file || !fs.existsSync(file)) return [];
  const rows = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>[];
  return rows.map((r) => ({
    name: r.name,
    status: r.status,
    error: r.error,
    backend: r.backend,
    batch: r.batch,
    seqLen: r.seqLen,
    stepSeconds: r.stepSeconds,
    tokensPerSec: r.oursTokensPerSec,
    gflopPerStep: r.gflopPerStep,
    gflops: r.gflops,
    peakGpuMB: r.peakGpuMB,
    peakRssMB: r.peakRssMB,
    weightsMB: r.weightsMB,
    firstLoss: r.firstLoss,
    lastLoss: r.lastLoss,
  }));
}

const list = read("list.txt");
const summary = {
  date: new Date().toISOString(),
  gpu: read("nvidia-smi.txt") || null,
  node: read("node.txt"),
  webgpu: list
    .split("\n")
    .filter((l) => /^\s+webgpu\s|^\s+(adapter|limits):/.test(l))
    .map((l) => l.trim()),
  exitCodes: { list: Number(listRc), tests: Number(testsRc), resumeTest: Number(resumeRc), bench: Number(benchRc) },
  tests: tap("tests.tap"),
  resumeTest: tap("tests-resume.tap"),
  bench: benchRows(),
};
console.log(JSON.stringify(summary, null, 2));
