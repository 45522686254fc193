// `run.ts bench`: run the selected cases, each in a fresh child process (src/bench/run-case.ts), a case that runs
// out of memory again with its next smaller batch; run the PyTorch peer on the same shapes when /usr/bin/python3 has
// torch; then write results/bench/<date>/bench.json (an array of BenchRow) and bench.md next to it.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BackendChoice } from "../backend.ts";
import { writeFileAtomic, writeJsonAtomic } from "../results.ts";
import { benchCases, type BenchCase } from "./cases.ts";
import { modelConfigOf } from "./measure.ts";
import { measurePeak, peerUnavailable, pythonPath, runPeer } from "./peer.ts";
import { renderBenchMarkdown } from "./report.ts";
import type { BenchMachine, BenchRow, CaseResult } from "./types.ts";
import { isOutOfMemory, type CaseJob } from "./run-case.ts";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const RUN_CASE = path.join(import.meta.dirname, "run-case.ts");

export interface BenchOptions {
  /** Case names to run (default: every case not marked hidden). */
  only?: string[];
  /** Overrides every case's timed step count. */
  steps?: number;
  backend: BackendChoice;
  resultsDir: string;
  /** ../shared, where stories260K lives. */
  sharedDir?: string;
  /** Run the PyTorch peer (default true; skipped with a note when torch is missing). */
  peer?: boolean;
  log?: (msg: string) => void;
}

export interface BenchOutput {
  rows: BenchRow[];
  machine: BenchMachine;
  dir: string;
  jsonFile: string;
  reportFile: string;
}

export function selectCases(all: readonly BenchCase[], only?: readonly string[]): BenchCase[] {
  if (!only?.length) return all.filter((c) => !c.hidden);
  const unknown = only.filter((n) => !all.some((c) => c.name === n));
  if (unknown.length)
    throw new Error(`bench --only: unknown case(s) ${unknown.join(", ")}; cases: ${all.map((c) => c.name).join(", ")}`);
  return all.filter((c) => only.includes(c.name));
}

/** Run one case in a child process; its stderr (progress) streams through, the last JSON line is the result. */
export function runCaseInChild(job: CaseJob): Promise<CaseResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), RUN_CASE, JSON.stringify(job)], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderrTail = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      process.stderr.write(d);
      stderrTail = (stderrTail + d.toString()).slice(-4000);
    });
    child.on("close", (code, signal) => {
      const line = stdout
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .pop();
      if (line) {
        try {
          return resolve(JSON.parse(line) as CaseResult);
        } catch {
          // fall through: a torn line is a crash
        }
      }
      const why = stderrTail.trim().split("\n").slice(-3).join(" | ") || `exit ${code ?? signal}`;
      resolve({
        name: job.name,
        kind: "train",
        status: isOutOfMemory(why) || signal === "SIGKILL" ? "out-of-memory" : "failed",
        backend: job.backend,
        batch: job.batch,
        error: `child process exited ${code ?? signal} without a result: ${why}`,
        peakRssMB: 0,
      });
    });
  });
}

function machine(): BenchMachine {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    hostname: os.hostname(),
    cpuModel: cpus[0]?.model ?? "unknown",
    cpus: cpus.length,
    memGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
}

export async function runBench(o: BenchOptions): Promise<BenchOutput> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + "\n"));
  const sharedDir = o.sharedDir ?? path.resolve(REPO_ROOT, "../shared");
  const cases = selectCases(benchCases(sharedDir), o.only);
  const m = machine();
  const wantPeer = o.peer !== false && cases.some((c) => c.peer);
  const noPeer = wantPeer ? peerUnavailable() : "disabled (--no-peer)";
  if (wantPeer && noPeer) log(`PyTorch peer skipped: ${noPeer}`);
  if (wantPeer && !noPeer) {
    m.python = pythonPath();
    log("measuring the machine's fp32 matmul peak (tools/bench/peak_flops.py) …");
    m.peakGflops = measurePeak() ?? undefined;
  }
  const rows: BenchRow[] = [];
  for (const c of cases) {
    log(`\n== ${c.name} (${c.kind}) ==`);
    if (c.model.kind === "folder" && !fs.existsSync(path.join(c.model.dir, "config.json"))) {
      rows.push({
        name: c.name,
        kind: c.kind,
        status: "skipped",
        backend: o.backend,
        error: `${c.model.dir} not present`,
        peakRssMB: 0,
      });
      log(`skipped: ${c.model.dir} not present`);
      continue;
    }
    const loadBefore = os.loadavg()[0]!;
    let result: CaseResult | undefined;
    const ooms: string[] = [];
    for (const batch of c.batches) {
      result = await runCaseInChild({ name: c.name, batch, backend: o.backend, sharedDir, steps: o.steps });
      if (result.status !== "out-of-memory") break;
      ooms.push(`batch ${batch}: ${result.error}`);
      log(
        `out of memory at batch ${batch}${batch !== c.batches[c.batches.length - 1] ? "; retrying with a smaller batch" : ""}`,
      );
    }
    const row: BenchRow = {
      seqLen: c.seqLen,
      ...result!,
      loadAverage: [loadBefore, os.loadavg()[0]!],
      ...(ooms.length
        ? { note: [result!.note, `out of memory first: ${ooms.join("; ")}`].filter(Boolean).join("; ") }
        : {}),
    };
    if (row.status === "ok" && row.gflops !== undefined && m.peakGflops) row.mfu = row.gflops / m.peakGflops.allCores;
    if (c.peer && row.status === "ok" && row.batch) {
      if (noPeer) row.pytorch = { status: "skipped", reason: noPeer };
      else {
        log(`PyTorch peer on the same shapes (batch ${row.batch}×${c.seqLen}) …`);
        const p = runPeer(c, modelConfigOf(c), row.batch, o.steps ?? c.steps);
        if (p.ok) {
          row.pytorch = p.result;
          row.pytorchTokensPerSec = p.result.tokensPerSec;
          row.pytorchStepSeconds = p.result.stepSeconds;
          row.pytorchForwardSeconds = p.result.forwardSeconds;
          if (row.oursTokensPerSec) row.ratio = row.oursTokensPerSec / p.result.tokensPerSec;
          log(
            `  torch: ${p.result.stepSeconds.toFixed(3)} s/step (${p.result.blas}); ours/torch = ${row.ratio?.toFixed(3)}`,
          );
        } else row.pytorch = { status: "failed", reason: p.reason };
      }
    }
    rows.push(row);
    log(summaryLine(row));
  }
  const dir = path.join(o.resultsDir, "bench", m.date.slice(0, 10));
  const jsonFile = path.join(dir, "bench.json");
  const reportFile = path.join(dir, "bench.md");
  writeJsonAtomic(jsonFile, rows);
  writeJsonAtomic(path.join(dir, "machine.json"), m);
  writeFileAtomic(reportFile, renderBenchMarkdown(rows, m));
  return { rows, machine: m, dir, jsonFile, reportFile };
}

function summaryLine(r: BenchRow): string {
  if (r.status !== "ok") return `${r.name}: ${r.status}${r.error ? ` — ${r.error}` : ""}`;
  if (r.stepSeconds !== undefined && r.kind === "train") {
    const mfu = r.mfu === undefined ? "" : ` (MFU ${(100 * r.mfu).toFixed(1)} %)`;
    const census =
      r.launchesPerStep === undefined
        ? ""
        : `, ${r.launchesPerStep} kernel launches/step, ${r.matmulSeconds!.toFixed(3)} s in matmuls + ${r.outsideMatmulSeconds!.toFixed(3)} s outside`;
    return `${r.name}: ${r.stepSeconds.toFixed(3)} s/step, ${r.oursTokensPerSec?.toFixed(0)} tok/s, ${r.gflops?.toFixed(2)} GFLOP/s${mfu}${census}, peak RSS ${r.peakRssMB.toFixed(0)} MB`;
  }
  return `${r.name}: ok`;
}

/** True when the error text of a crashed child means memory (re-exported for tests). */
export { isOutOfMemory };
