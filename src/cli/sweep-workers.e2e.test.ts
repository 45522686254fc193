// Several `sweep` workers on one results folder, as real processes (`experiments/run.ts sweep …`): 3 and 5 at once
// train every cell exactly once (one success each, every step logged once, nothing archived, all exit 0) and the
// report equals a single worker's; a worker killed with `kill -9` mid-cell leaves a claim that goes stale after the
// (short, in the test) lease, the next worker takes it over and resumes from the checkpoint, and the final adapter
// is bit-identical to an uninterrupted run; SIGTERM checkpoints, releases the claim and exits 75; bad input exits 2
// without touching a result. Cells are tiny (d = 64 random decoders, 3 steps) so each test takes seconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readJsonl, type MetricsRecord, type RunSummary } from "../results.ts";
import { runSweep, sweepExitCode, type SweepArgs } from "./sweep.ts";
import { EXPERIMENTS } from "../../experiments/index.ts";
import { sweepArgv } from "../testing/sweep-argv.ts";
import { captureConsole } from "../testing/capture-console.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sweep-workers-test-"));
const dataDir = path.join(tmp, "datasets");
/** A sweep's --set and --only lists: the worker processes get them as flags, runSweep calls as arguments. */
type Cells = { set: string[]; only: string[] };
const TINY_ARGS: Cells = {
  set: ["train.steps=3", "train.batchSize=4", "eval.limit=20"],
  only: ["model=random:d=64,L=2"],
};

/** runSweep's arguments for the TINY_ARGS cells in `resultsDir`, on wasm, without the report. */
const tinySweep = (resultsDir: string): SweepArgs => ({
  experiment: "quickstart",
  backend: "wasm",
  report: false,
  "results-dir": resultsDir,
  "data-dir": dataDir,
  ...TINY_ARGS,
});

interface Worker {
  proc: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
}

function startWorker(resultsDir: string, cells: Cells, extra: string[] = [], env = process.env): Worker {
  const proc = spawn(
    process.execPath,
    sweepArgv({ ...cells, extra: ["--no-report", "--results-dir", resultsDir, "--data-dir", dataDir, ...extra] }),
    { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    proc.on("close", (code, signal) => resolve({ code, signal, out })),
  );
  return { proc, done };
}

function runIds(resultsDir: string): string[] {
  const d = path.join(resultsDir, "quickstart");
  return fs.existsSync(d)
    ? fs
        .readdirSync(d)
        .filter((n) => !n.startsWith(".") && n !== "slurm")
        .sort()
    : [];
}

function summaryOf(resultsDir: string, id: string): RunSummary {
  return JSON.parse(fs.readFileSync(path.join(resultsDir, "quickstart", id, "summary.json"), "utf8")) as RunSummary;
}

async function report(resultsDir: string, name: string): Promise<Record<string, string>> {
  const { renderReport } = await import("../report/render.ts");
  const reportsDir = path.join(tmp, `reports-${name}`);
  await renderReport({ experiment: "quickstart", resultsDir, reportsDir, noPlots: true });
  const tables = path.join(reportsDir, "quickstart", "tables");
  // The tables that hold numbers from the runs (runs.md and overhead.md also hold timings, which differ run to run).
  return Object.fromEntries(
    fs
      .readdirSync(tables)
      .filter((f) => /^(accuracy|paired|stability|all-metrics)/.test(f))
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(tables, f), "utf8")]),
  );
}

/** runSweep in this process: its value and everything it printed (as `err`). */
async function quiet<T>(f: () => Promise<T>): Promise<{ value: T; err: string }> {
  const c = await captureConsole(f);
  return { value: c.value, err: c.all };
}

let single: Record<string, string> | undefined;
async function singleWorkerReport(): Promise<Record<string, string>> {
  if (single) return single;
  const results = path.join(tmp, "single");
  const r = await quiet(() => runSweep(tinySweep(results), EXPERIMENTS));
  assert.equal(r.value, 0, r.err);
  single = await report(results, "single");
  return single;
}

for (const n of [3, 5]) {
  test(`${n} concurrent workers on one results folder train every cell exactly once`, async () => {
    const results = path.join(tmp, `workers-${n}`);
    const workers = Array.from({ length: n }, () => startWorker(results, TINY_ARGS));
    const ends = await Promise.all(workers.map((w) => w.done));
    for (const e of ends) assert.equal(e.code, 0, e.out);
    const ids = runIds(results);
    assert.equal(ids.length, 10, ids.join("\n"));
    for (const id of ids) {
      assert.equal(summaryOf(results, id).status, "success", id);
      const steps = readJsonl<MetricsRecord>(path.join(results, "quickstart", id, "metrics.jsonl")).rows.map(
        (r) => r.step,
      );
      assert.deepEqual(steps, [1, 2, 3], `${id}: each step logged once`);
    }
    // Each cell was started by exactly one worker ("[k/10] <id>" lines), and nothing was archived or left behind.
    const started = ends.flatMap((e) => [...e.out.matchAll(/^\[\d+\/\d+\] (\S+)/gm)].map((m) => m[1]!)).sort();
    assert.deepEqual(started, ids, "every cell trained by one worker");
    assert.ok(!fs.existsSync(path.join(results, "quickstart", ".archive")), "nothing archived");
    assert.deepEqual(fs.readdirSync(path.join(results, "quickstart", ".claims")), [], "every claim released");
    const leftovers = fs
      .readdirSync(path.join(results, "quickstart"), { recursive: true })
      .map(String)
      .filter((f) => /\.tmp-|\.trash-|\.hb-/.test(f));
    assert.deepEqual(leftovers, [], "no temp files left");
    assert.deepEqual(await report(results, `w${n}`), await singleWorkerReport(), "the report equals a single worker's");
  });
}

test("kill -9 mid-cell: after the lease another worker takes the claim over, resumes, and ends bit-identical", async () => {
  const one: Cells = {
    set: [
      "model=random:d=32,L=1,heads=2,kv=1",
      "train.steps=4000",
      "train.checkpointEvery=100",
      "train.batchSize=4",
      "eval.limit=10",
    ],
    only: ["optimizer=stable-lora", "seed=0"],
  };
  const results = path.join(tmp, "kill9");
  const a = startWorker(results, one, ["--lease", "2"]);
  // Wait for a checkpoint at step ≥ 100 and a heartbeat that reports a step, then kill -9 (no chance to release the
  // claim or write anything). A step of this decoder takes about a millisecond and the heartbeat beats every
  // lease/4 = 0.5 s, so the cell is long (4000 steps, seconds) to be caught mid-training on a fast machine too.
  let ckStep = 0;
  let beatStep = 0;
  const readStep = (file: string) => {
    try {
      return (JSON.parse(fs.readFileSync(file, "utf8")) as { step: number }).step;
    } catch {
      return 0; // not written yet
    }
  };
  for (let i = 0; i < 3000 && (ckStep < 100 || beatStep < 1); i++) {
    await new Promise((r) => setTimeout(r, 20));
    const ids = runIds(results);
    if (!ids.length) continue;
    assert.ok(
      !fs.existsSync(path.join(results, "quickstart", ids[0]!, "summary.json")),
      "the cell ended before the kill",
    );
    ckStep = readStep(path.join(results, "quickstart", ids[0]!, "checkpoint", "state.json"));
    const claims = path.join(results, "quickstart", ".claims", ids[0]!);
    const claimFile = fs.existsSync(claims) ? fs.readdirSync(claims).find((f) => /^g\d{6}\.json$/.test(f)) : undefined;
    beatStep = claimFile ? readStep(path.join(claims, claimFile)) : 0;
  }
  assert.ok(ckStep >= 100, `a checkpoint was written (last seen: step ${ckStep})`);
  assert.ok(beatStep >= 1, "the heartbeat reported a step");
  a.proc.kill("SIGKILL");
  const ea = await a.done;
  assert.equal(ea.signal, "SIGKILL");
  const [id] = runIds(results);
  assert.ok(!fs.existsSync(path.join(results, "quickstart", id!, "summary.json")), "killed before the end of the cell");
  assert.equal(
    fs.readdirSync(path.join(results, "quickstart", ".claims", id!)).filter((f) => f.endsWith(".json")).length,
    1,
    "the dead worker's claim is left",
  );
  // --status: once the lease has passed, the cell shows as stale, with the dead worker's host, pid and step.
  await new Promise((r) => setTimeout(r, 2200));
  const st = await quiet(() =>
    runSweep(
      {
        experiment: "quickstart",
        backend: "wasm",
        "results-dir": results,
        "data-dir": dataDir,
        status: true,
        json: true,
        lease: 2,
        ...one,
      },
      EXPERIMENTS,
    ),
  );
  const status = JSON.parse(st.err) as {
    counts: Record<string, number>;
    cells: { kind: string; claim?: { pid: number; step: number; heartbeatAgeSeconds: number } }[];
  };
  assert.equal(status.counts.stale, 1, st.err);
  assert.equal(status.cells[0]!.claim!.pid, a.proc.pid);
  assert.ok(status.cells[0]!.claim!.step > 0 && status.cells[0]!.claim!.heartbeatAgeSeconds > 2, st.err);

  const b = startWorker(results, one, ["--lease", "2"]);
  const eb = await b.done;
  assert.equal(eb.code, 0, eb.out);
  assert.match(eb.out, /resuming, was partial; took over a stale claim/);
  assert.match(eb.out, /resuming from step \d+/);
  const s = summaryOf(results, id!);
  assert.equal(s.status, "success");
  assert.deepEqual(
    readJsonl<MetricsRecord>(path.join(results, "quickstart", id!, "metrics.jsonl")).rows.map((r) => r.step),
    Array.from({ length: 4000 }, (_, i) => i + 1),
  );

  const straight = path.join(tmp, "kill9-straight");
  const e = startWorker(straight, one);
  assert.equal((await e.done).code, 0);
  const adapter = (d: string) =>
    fs.readFileSync(path.join(d, "quickstart", id!, "adapter", "adapter_model.safetensors"));
  assert.ok(
    adapter(results).equals(adapter(straight)),
    "the resumed adapter is bit-identical to the uninterrupted run's",
  );
  assert.deepEqual(s.final, summaryOf(straight, id!).final);
});

test("SIGTERM: the worker checkpoints, releases its claim and exits 75 (retry); the rerun finishes the cell", async () => {
  const one: Cells = {
    // 4000 steps (seconds): long enough to be mid-training when the signal comes
    set: ["model=random:d=32,L=1,heads=2,kv=1", "train.steps=4000", "train.batchSize=4", "eval.limit=10"],
    only: ["optimizer=adamw", "seed=0"],
  };
  const results = path.join(tmp, "sigterm");
  const w = startWorker(results, one);
  for (let i = 0; i < 1200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const ids = runIds(results);
    if (ids.length && readJsonl(path.join(results, "quickstart", ids[0]!, "metrics.jsonl")).rows.length >= 5) break;
  }
  w.proc.kill("SIGTERM");
  const e = await w.done;
  assert.equal(e.code, 75, e.out);
  const [id] = runIds(results);
  assert.equal(summaryOf(results, id!).status, "interrupted");
  assert.ok(fs.existsSync(path.join(results, "quickstart", id!, "checkpoint", "state.json")));
  assert.deepEqual(fs.readdirSync(path.join(results, "quickstart", ".claims")), [], "claim released");
  const again = startWorker(results, one);
  const e2 = await again.done;
  assert.equal(e2.code, 0, e2.out);
  assert.equal(summaryOf(results, id!).status, "success");
});

test("--workers 2: one command starts a second worker process here; SIGTERM stops both at a checkpoint (exit 75), the rerun finishes every cell once", async () => {
  const cells: Cells = {
    // 2 × 4000 steps (seconds each): long enough for the second process to start and both to be mid-cell
    set: ["model=random:d=32,L=1,heads=2,kv=1", "train.steps=4000", "train.batchSize=4", "eval.limit=10"],
    only: ["optimizer=adamw"],
  };
  const results = path.join(tmp, "local-workers");
  const w = startWorker(results, cells, ["--workers", "2"]);
  let out = "";
  w.proc.stderr!.on("data", (d) => (out += d));
  // Both mid-cell: this process's and the helper's ("[w2] …") progress lines.
  for (let i = 0; i < 1200 && !(/^ {2}\S+ {2}step \d+/m.test(out) && /^\[w2\] +\S+ {2}step \d+/m.test(out)); i++)
    await new Promise((r) => setTimeout(r, 50));
  w.proc.kill("SIGTERM");
  const e = await w.done;
  assert.equal(e.code, 75, e.out);
  assert.match(e.out, /2 workers on this machine \(this one and 1 more\), 1 matmul thread\(s\) each/);
  const ids = runIds(results);
  assert.equal(ids.length, 2, ids.join("\n"));
  for (const id of ids) assert.equal(summaryOf(results, id).status, "interrupted", `${id}: checkpointed by its worker`);
  assert.deepEqual(fs.readdirSync(path.join(results, "quickstart", ".claims")), [], "both claims released");
  const again = startWorker(results, cells, ["--workers", "2"]);
  const e2 = await again.done;
  assert.equal(e2.code, 0, e2.out);
  for (const id of ids) {
    assert.equal(summaryOf(results, id).status, "success", id);
    const steps = readJsonl<MetricsRecord>(path.join(results, "quickstart", id, "metrics.jsonl")).rows.map(
      (r) => r.step,
    );
    assert.deepEqual(
      steps,
      Array.from({ length: 4000 }, (_, i) => i + 1),
      `${id}: each step logged once`,
    );
  }
});

test("bad input: --shard 3/3, --shard a/b, --lease 0, --slurm without sbatch, --workers 0, a claim that is not JSON → exit 2, nothing touched", async () => {
  const results = path.join(tmp, "bad");
  const base = tinySweep(results);
  const r0 = await quiet(() =>
    runSweep({ ...base, only: ["model=random:d=64,L=2", "optimizer=adamw", "seed=0"] }, EXPERIMENTS),
  );
  assert.equal(r0.value, 0, r0.err);
  const snap = () =>
    fs
      .readdirSync(results, { recursive: true })
      .map(String)
      .sort()
      .map((f) => `${f}:${fs.statSync(path.join(results, f)).mtimeMs}`);
  const before = snap();
  const path0 = process.env.PATH;
  process.env.PATH = "/nonexistent"; // no sbatch (CI installs Slurm for the cluster test)
  try {
    const cases: [Partial<SweepArgs>, RegExp][] = [
      [{ shard: "3/3" }, /--shard 3\/3: the index must be 0 … 2/],
      [{ shard: "a/b" }, /--shard "a\/b": expected I\/N/],
      [{ lease: 0 }, /--lease 0: the lease must be a positive number of seconds/],
      [{ slurm: true }, /`sbatch` is not on PATH/],
      [{ slurm: true, force: true, print: true }, /--force cannot be combined with --slurm/],
      [{ k8s: true }, /--k8s only prints the manifest: add --print/],
      [{ experiment: "nosuchexperiment" }, /unknown experiment "nosuchexperiment"/],
      [{ workers: "0" }, /--workers 0: must be a positive integer or "auto"/],
      [{ workers: "two" }, /--workers two: must be a positive integer or "auto"/],
      [{ workers: "2", force: true }, /--workers 2 cannot be combined with --force/],
      [{ workers: "2", shard: "0/2" }, /--workers 2 cannot be combined with a shard/],
    ];
    for (const [args, re] of cases) {
      const r = await quiet(() => sweepExitCode({ ...base, ...args }, EXPERIMENTS));
      assert.equal(r.value, 2, `${JSON.stringify(args)}: ${r.err}`);
      assert.match(r.err, re);
    }
  } finally {
    process.env.PATH = path0;
  }
  assert.deepEqual(snap(), before, "nothing touched");
  // A claim file that is not JSON (an empty file from a broken copy): a clear error naming it, exit 2.
  const dry = await quiet(() => runSweep({ ...base, "dry-run": true }, EXPERIMENTS));
  const other = dry.err
    .split("\n")
    .map((l) => l.split(/\s+/)[1])
    .find((x) => x && x.includes("--lora-plus--") && x.includes("--s0--"))!;
  const bad = path.join(results, "quickstart", ".claims", other, "g000000.json");
  fs.mkdirSync(path.dirname(bad), { recursive: true });
  fs.writeFileSync(bad, "");
  const before2 = snap();
  const r = await quiet(() =>
    sweepExitCode({ ...base, only: [...TINY_ARGS.only, "optimizer=lora-plus"] }, EXPERIMENTS),
  );
  assert.equal(r.value, 2, r.err);
  assert.match(r.err, /g000000\.json: the claim file is not valid JSON .* delete the file; no result was touched/);
  assert.deepEqual(snap(), before2);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
