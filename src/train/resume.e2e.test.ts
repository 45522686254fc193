// Resume equivalence: a run that is interrupted and restarted with the same command ends with
// the same numbers, bit for bit on the same backend, as one that ran straight through. (a) in process, for every
// optimizer: an AbortSignal stops the run after k steps ("interrupted", checkpoint written), a rerun resumes;
// (b) a real `kill -9` of `experiments/run.ts sweep` after its first checkpoint, and a SIGINT, then the same command.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { initBackend } from "../backend.ts";
import { resolveRunConfig, type DeepPartial, type RunConfig } from "../config.ts";
import { OPTIMIZER_NAMES } from "../optim/types.ts";
import { readJsonl, type EvalRecord, type MetricsRecord, type RunSummary } from "../results.ts";
import { configHash } from "../sweep.ts";
import { runTraining } from "./recipe.ts";
import { useWebgpu } from "../webgpu-testing.ts";
import { EXPERIMENTS } from "../../experiments/index.ts";
import { sweepArgv } from "../testing/sweep-argv.ts";
import { captureConsole } from "../testing/capture-console.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "resume-test-"));
const dataDir = path.join(tmp, "datasets");

const TINY: DeepPartial<RunConfig> = {
  model: "random:d=32,L=1,heads=2,kv=1",
  task: "synthetic",
  backend: "wasm",
  dataDir,
  // LoRA dropout on: its masks are seeded per step, so they must line up after a resume too.
  lora: { r: 4, alpha: 8, targets: ["q_proj", "v_proj"], dropout: 0.1 },
  train: { steps: 9, batchSize: 4, maxSeqLen: 16, checkpointEvery: 3, warmupSteps: 2, schedule: "cosine" },
  eval: { limit: 20, batchSize: 20, everySteps: 4 },
  stability: { probeEvery: 2, probeBatchSize: 4 },
};

const OPTIMIZERS: Record<string, DeepPartial<RunConfig["optimizer"]>> = {
  adamw: { name: "adamw", lr: 1e-2 },
  "lora-plus": { name: "lora-plus", lr: 1e-2 },
  riemannian: { name: "riemannian", lr: 1e-2 },
  "lora-rite": { name: "lora-rite", lr: 1e-2 },
  // λ large enough that the stop flag flips mid-run: the flags must survive the checkpoint.
  "stable-lora": { name: "stable-lora", lr: 1e-2, lambda: 0.3 },
};

/** What must match between runs: everything logged except timings and allocator counts. */
function deterministicMetrics(dir: string): unknown[] {
  return readJsonl<MetricsRecord>(path.join(dir, "metrics.jsonl")).rows.map(
    ({ tokensPerSec: _a, stepSeconds: _b, numTensors: _c, ...r }) => r,
  );
}

function evalRows(dir: string): unknown[] {
  return readJsonl<EvalRecord>(path.join(dir, "eval.jsonl")).rows.map(({ seconds: _s, ...r }) => r);
}

function files(dir: string, sub: string): Record<string, Buffer> {
  const d = path.join(dir, sub);
  return Object.fromEntries(
    fs
      .readdirSync(d)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(d, f))]),
  );
}

function assertSameRun(resumed: string, straight: string, label: string): void {
  const a = deterministicMetrics(resumed),
    b = deterministicMetrics(straight);
  assert.deepEqual(
    a.map((r) => (r as { step: number }).step),
    b.map((r) => (r as { step: number }).step),
    `${label}: metrics.jsonl has exactly one line per step (no duplicates after resume)`,
  );
  assert.deepEqual(a, b, `${label}: losses, norms, δ terms identical`);
  assert.deepEqual(evalRows(resumed), evalRows(straight), `${label}: periodic and final evals identical`);
  assert.deepEqual(files(resumed, "adapter"), files(straight, "adapter"), `${label}: adapter files byte-identical`);
  assert.equal(
    fs.readFileSync(path.join(resumed, "samples.jsonl"), "utf8"),
    fs.readFileSync(path.join(straight, "samples.jsonl"), "utf8"),
    `${label}: samples identical`,
  );
  const sa = JSON.parse(fs.readFileSync(path.join(resumed, "summary.json"), "utf8")) as RunSummary;
  const sb = JSON.parse(fs.readFileSync(path.join(straight, "summary.json"), "utf8")) as RunSummary;
  assert.equal(sa.status, "success");
  assert.equal(sa.stepsCompleted, sb.stepsCompleted);
  assert.deepEqual(sa.final, sb.final);
  assert.deepEqual(sa.stability, sb.stability, `${label}: stop steps, norm ratios and ΔW spectra identical`);
}

for (const name of OPTIMIZER_NAMES) {
  test(`in-process interrupt + resume equals a straight run: ${name}`, async () => {
    await initBackend("wasm");
    const cfg = resolveRunConfig(TINY, { optimizer: OPTIMIZERS[name] });
    const hash = configHash(cfg);
    const ctx = (dir: string) => ({ experiment: "t", runId: name, configHash: hash, dir });

    const straight = path.join(tmp, name, "straight");
    assert.equal((await runTraining(cfg, ctx(straight))).status, "success");

    // Stop after step 4 (one past the step-3 checkpoint, after the step-4 eval): the abort checkpoints step 4.
    const resumed = path.join(tmp, name, "resumed");
    const ctl = new AbortController();
    const first = await runTraining(cfg, {
      ...ctx(resumed),
      signal: ctl.signal,
      onStep: (p) => void (p.step === 4 && ctl.abort()),
    });
    assert.equal(first.status, "interrupted");
    assert.equal(first.stepsCompleted, 4);
    assert.equal(first.leakedTensors, 0);
    const state = JSON.parse(fs.readFileSync(path.join(resumed, "checkpoint", "state.json"), "utf8")) as {
      step: number;
      configHash: string;
    };
    assert.deepEqual({ step: state.step, configHash: state.configHash }, { step: 4, configHash: hash });
    assert.ok(!fs.existsSync(path.join(resumed, "adapter")), "an interrupted run writes no adapter");
    assert.equal(
      (JSON.parse(fs.readFileSync(path.join(resumed, "summary.json"), "utf8")) as RunSummary).status,
      "interrupted",
    );

    // Interrupted again before the first resumed step: the checkpoint must still say step 4.
    const again = new AbortController();
    again.abort();
    const second = await runTraining(cfg, { ...ctx(resumed), signal: again.signal });
    assert.equal(second.status, "interrupted");
    assert.equal(second.stepsCompleted, 4);
    assert.equal(
      (JSON.parse(fs.readFileSync(path.join(resumed, "checkpoint", "state.json"), "utf8")) as { step: number }).step,
      4,
    );

    const third = await runTraining(cfg, ctx(resumed));
    assert.equal(third.status, "success", third.error);
    assertSameRun(resumed, straight, name);
  });
}

test("a crash after a checkpoint (log lines past it, torn last line) resumes to the same result", async () => {
  await initBackend("wasm");
  const cfg = resolveRunConfig(TINY, { optimizer: OPTIMIZERS["stable-lora"] });
  const hash = configHash(cfg);
  const straight = path.join(tmp, "crash", "straight");
  await runTraining(cfg, { experiment: "t", runId: "c", configHash: hash, dir: straight });
  // Simulate kill -9 at step 5: keep the step-3 checkpoint, metrics up to 5 with a torn 6th line, eval at 4.
  const crashed = path.join(tmp, "crash", "crashed");
  const ctl = new AbortController();
  await runTraining(cfg, {
    experiment: "t",
    runId: "c",
    configHash: hash,
    dir: crashed,
    signal: ctl.signal,
    onStep: (p) => void (p.step === 6 && ctl.abort()),
  });
  fs.rmSync(path.join(crashed, "checkpoint"), { recursive: true });
  fs.rmSync(path.join(crashed, "summary.json"));
  const ck3 = path.join(tmp, "crash", "ck3");
  const c3 = new AbortController();
  await runTraining(cfg, {
    experiment: "t",
    runId: "c",
    configHash: hash,
    dir: ck3,
    signal: c3.signal,
    onStep: (p) => void (p.step === 3 && c3.abort()),
  });
  fs.cpSync(path.join(ck3, "checkpoint"), path.join(crashed, "checkpoint"), { recursive: true });
  fs.appendFileSync(path.join(crashed, "metrics.jsonl"), '{"step":7,"loss":');
  const r = await runTraining(cfg, { experiment: "t", runId: "c", configHash: hash, dir: crashed });
  assert.equal(r.status, "success", r.error);
  assertSameRun(crashed, straight, "crash");
});

test("a crash during the final evaluation reruns it once (no duplicate final eval lines)", async () => {
  await initBackend("wasm");
  const cfg = resolveRunConfig(TINY, { optimizer: OPTIMIZERS["stable-lora"] });
  const hash = configHash(cfg);
  const straight = path.join(tmp, "final", "straight");
  await runTraining(cfg, { experiment: "t", runId: "f", configHash: hash, dir: straight });
  // The final checkpoint and the final eval line are written; the crash came before samples and summary.
  const crashed = path.join(tmp, "final", "crashed");
  fs.cpSync(straight, crashed, { recursive: true });
  fs.rmSync(path.join(crashed, "summary.json"));
  fs.rmSync(path.join(crashed, "samples.jsonl"));
  const r = await runTraining(cfg, { experiment: "t", runId: "f", configHash: hash, dir: crashed });
  assert.equal(r.status, "success", r.error);
  assert.equal(r.stepsCompleted, 9);
  assert.ok(r.stability?.stopSteps, "Stable-LoRA's stop steps survive a resume that runs no step");
  assertSameRun(crashed, straight, "final eval");
});

// --- (b) a real process killed with SIGKILL, and one stopped with SIGINT -------------------------------------------

const ONLY = ["model=random:d=64,L=2", "optimizer=stable-lora", "seed=0"];
// A step takes a few milliseconds: the cell is long enough (800 steps, the first checkpoint at 40) that the signal sent
// when the first checkpoint appears always lands mid-training, on a fast machine too.
const SET = ["train.steps=800", "train.batchSize=4", "train.checkpointEvery=40", "eval.limit=20"];
const SWEEP_ARGS = (resultsDir: string) =>
  sweepArgv({
    only: ONLY,
    set: SET,
    extra: ["--no-report", "--results-dir", resultsDir, "--data-dir", dataDir],
  });

function start(resultsDir: string): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stderr: string }>;
} {
  const child = spawn(process.execPath, SWEEP_ARGS(resultsDir), {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0", NODE_TEST_CONTEXT: undefined },
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => void (stderr += d.toString()));
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done };
}

/** runSweep with SWEEP_ARGS' settings in this process, capturing its log. */
async function sweepInProcess(resultsDir: string): Promise<{ code: number; err: string }> {
  const { runSweep } = await import("../cli/sweep.ts");
  const c = await captureConsole(() =>
    runSweep(
      {
        experiment: "quickstart",
        only: ONLY,
        set: SET,
        backend: "wasm",
        report: false,
        "results-dir": resultsDir,
        "data-dir": dataDir,
      },
      EXPERIMENTS,
    ),
  );
  return { code: c.value, err: c.err };
}

function theRunDir(resultsDir: string): string {
  const base = path.join(resultsDir, "quickstart");
  const runs = fs.existsSync(base) ? fs.readdirSync(base).filter((d) => !d.startsWith(".")) : [];
  return runs.length === 1 ? path.join(base, runs[0]!) : "";
}

/** Wait until the run folder has a checkpoint, then send `sig`. */
async function interruptAfterCheckpoint(
  resultsDir: string,
  sig: NodeJS.Signals,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const { child, done } = start(resultsDir);
  let exited = false;
  void done.then(() => (exited = true));
  const t0 = Date.now();
  while (!exited && Date.now() - t0 < 50_000) {
    const dir = theRunDir(resultsDir);
    if (dir && fs.existsSync(path.join(dir, "checkpoint", "state.json"))) {
      child.kill(sig);
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return done;
}

test("kill -9 after the first checkpoint, then the same command: same final numbers as an uninterrupted run", async () => {
  // The uninterrupted reference runs in this process (same sweep code, same backend) to save a process start.
  const straightDir = path.join(tmp, "proc-straight");
  assert.equal((await sweepInProcess(straightDir)).code, 0);

  const killedDir = path.join(tmp, "proc-killed");
  const killed = await interruptAfterCheckpoint(killedDir, "SIGKILL");
  assert.equal(killed.signal, "SIGKILL", `the run was still going when the checkpoint appeared:\n${killed.stderr}`);
  const dir = theRunDir(killedDir);
  assert.ok(!fs.existsSync(path.join(dir, "summary.json")), "killed mid-run: no summary");
  const resumed = await start(killedDir).done;
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from step \d+/);
  assertSameRun(dir, theRunDir(straightDir), "kill -9");

  // SIGINT: the runner finishes the step, checkpoints, records "interrupted" and exits 130; the rerun resumes.
  const intDir = path.join(tmp, "proc-sigint");
  const interrupted = await interruptAfterCheckpoint(intDir, "SIGINT");
  assert.equal(interrupted.code, 130, interrupted.stderr);
  const idir = theRunDir(intDir);
  assert.equal(
    (JSON.parse(fs.readFileSync(path.join(idir, "summary.json"), "utf8")) as RunSummary).status,
    "interrupted",
  );
  // (The same command again, in process this time, to keep the test short; the kill -9 rerun above is a process.)
  const again = await sweepInProcess(intDir);
  assert.equal(again.code, 0, again.err);
  assert.match(again.err, /resuming, was interrupted/);
  assertSameRun(idir, theRunDir(straightDir), "SIGINT");
});

test("webgpu (SwiftShader): interrupt + resume equals a straight run, bit for bit; no leaked tensors", async (t) => {
  const skip = await useWebgpu();
  if (skip) return t.skip(skip);
  // Small, as SwiftShader is a CPU: 3 steps, a checkpoint at 1, the abort after 2, a probe at 2, a short eval.
  const cfg = resolveRunConfig(TINY, {
    backend: "webgpu",
    optimizer: OPTIMIZERS["stable-lora"],
    train: { steps: 3, checkpointEvery: 1, warmupSteps: 1 },
    eval: { limit: 4, batchSize: 4, everySteps: 0 },
  });
  const hash = configHash(cfg);
  const ctx = (dir: string) => ({ experiment: "t", runId: "webgpu", configHash: hash, dir });
  const straight = path.join(tmp, "webgpu", "straight");
  const s = await runTraining(cfg, ctx(straight));
  assert.equal(s.status, "success", s.error);
  assert.equal(s.leakedTensors, 0);
  assert.equal(s.provenance.backend.name, "webgpu");
  assert.ok(s.provenance.backend.gpu && s.provenance.backend.gpu.maxBufferSize > 0, "summary.json records the adapter");
  const resumed = path.join(tmp, "webgpu", "resumed");
  const ctl = new AbortController();
  const first = await runTraining(cfg, {
    ...ctx(resumed),
    signal: ctl.signal,
    onStep: (p) => void (p.step === 2 && ctl.abort()),
  });
  assert.equal(first.status, "interrupted");
  assert.equal(first.leakedTensors, 0);
  const third = await runTraining(cfg, ctx(resumed));
  assert.equal(third.status, "success", third.error);
  assertSameRun(resumed, straight, "webgpu");
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
