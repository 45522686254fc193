// `sweep --slurm` on a real one-node Slurm (tools/slurm/local-cluster.sh; CI installs Debian's slurmctld, slurmd,
// slurm-client and munge): a job array of three tasks, each a shard of a tiny quickstart (10 cells, 3 steps), plus
// the report job. Waits for the queue to empty, then checks every cell, the shard logs and the report. Then a
// preemption: SIGTERM to a running task's batch shell (what --signal=B:TERM@120 does before a time limit) must end in
// a checkpoint, exit 75, a requeue and a resumed, complete run. Skips, with the reason, where Slurm cannot start
// (not root, packages missing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { RunSummary } from "../../src/results.ts";
import { sweepArgv } from "../../src/testing/sweep-argv.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(REPO, "tools", "slurm", "local-cluster.sh");
const SLURM_DIR = process.env.LORA_LAB_SLURM_DIR ?? "/tmp/lora-lab-slurm";
const env = { ...process.env, SLURM_CONF: path.join(SLURM_DIR, "slurm.conf") };

function alive(pidFile: string): boolean {
  try {
    process.kill(Number(fs.readFileSync(pidFile, "utf8").trim()), 0);
    return true;
  } catch {
    return false;
  }
}

function startCluster(): { skip?: string; startedHere: boolean } {
  if (process.getuid?.() !== 0)
    return { skip: "Slurm test needs root (slurmd runs jobs as any user)", startedHere: false };
  const wasUp = alive(path.join(SLURM_DIR, "slurmctld.pid"));
  const r = spawnSync("bash", [SCRIPT, "start"], { encoding: "utf8", env });
  if (r.status !== 0)
    return { skip: `Slurm cannot start here: ${(r.stderr || r.stdout).trim().split("\n").pop()}`, startedHere: false };
  return { startedHere: !wasUp };
}

const cluster = startCluster();

/** `sweep quickstart --slurm --shards N` into tmp/results, tmp/reports and tmp/datasets; the finished sbatch call. */
function submitSweep(tmp: string, cells: { set: string[]; only: string[] }, shards: number) {
  const extra = [
    "--results-dir",
    path.join(tmp, "results"),
    "--reports-dir",
    path.join(tmp, "reports"),
    "--data-dir",
    path.join(tmp, "datasets"),
    "--slurm",
    "--shards",
    String(shards),
  ];
  return spawnSync(process.execPath, sweepArgv({ ...cells, extra }), { cwd: REPO, env, encoding: "utf8" });
}

test(
  "sweep --slurm: a 3-task job array on a real Slurm trains every cell once and the report job runs after it",
  { skip: cluster.skip, timeout: 300_000 },
  async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slurm-test-"));
    const results = path.join(tmp, "results"),
      reports = path.join(tmp, "reports");
    const sub = submitSweep(
      tmp,
      { set: ["train.steps=3", "train.batchSize=4", "eval.limit=20"], only: ["model=random:d=64,L=2"] },
      3,
    );
    assert.equal(sub.status, 0, sub.stderr);
    const jobId = sub.stdout.trim();
    assert.match(jobId, /^\d+$/);
    assert.match(sub.stderr, /submitted job array \d+ \(3 tasks\) and report job \d+/);
    // Wait until neither the array nor the report job is in the queue.
    const t0 = Date.now();
    for (;;) {
      const q = spawnSync("squeue", ["-h", "-o", "%i %T %j"], { env, encoding: "utf8" });
      const mine = q.stdout.split("\n").filter((l) => l.includes("lora-lab-quickstart"));
      if (mine.length === 0) break;
      assert.ok(Date.now() - t0 < 240_000, `queue did not empty: ${mine.join("; ")}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const expDir = path.join(results, "quickstart");
    const ids = fs.readdirSync(expDir).filter((n) => !n.startsWith(".") && n !== "slurm");
    assert.equal(ids.length, 10, ids.join("\n"));
    for (const id of ids) {
      const s = JSON.parse(fs.readFileSync(path.join(expDir, id, "summary.json"), "utf8")) as RunSummary;
      assert.equal(s.status, "success", `${id}: ${s.error}`);
    }
    const logs = path.join(expDir, "slurm", "logs");
    const taskLogs = fs
      .readdirSync(logs)
      .filter((f) => new RegExp(`^${jobId}_\\d+\\.out$`).test(f))
      .sort();
    assert.deepEqual(
      taskLogs,
      [0, 1, 2].map((i) => `${jobId}_${i}.out`),
    );
    const started = taskLogs.flatMap((f) =>
      [...fs.readFileSync(path.join(logs, f), "utf8").matchAll(/^\[\d+\/\d+\] (\S+)/gm)].map((m) => m[1]!),
    );
    assert.deepEqual(started.sort(), ids.sort(), "each cell trained by exactly one array task");
    for (const [i, f] of taskLogs.entries())
      assert.match(fs.readFileSync(path.join(logs, f), "utf8"), new RegExp(`shard ${i}/3 from SLURM_ARRAY_TASK_ID`));
    assert.ok(fs.existsSync(path.join(reports, "quickstart", "index.html")), "the report job wrote the report");
    const runsMd = fs.readFileSync(path.join(reports, "quickstart", "tables", "runs.md"), "utf8");
    for (const id of ids) assert.ok(runsMd.includes(id), `${id} in the report`);
    fs.rmSync(tmp, { recursive: true, force: true });
  },
);

test(
  "preemption on Slurm: SIGTERM to the batch shell → the worker checkpoints, exits 75, the task requeues and resumes",
  { skip: cluster.skip, timeout: 300_000 },
  async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slurm-term-test-"));
    const results = path.join(tmp, "results");
    const steps = 4000; // about a millisecond each: SIGTERM, sent once 20 are logged, lands mid-training
    const sub = submitSweep(
      tmp,
      {
        set: [`train.steps=${steps}`, "train.batchSize=4", "eval.limit=10", "model=random:d=32,L=1,heads=2,kv=1"],
        only: ["optimizer=adamw", "seed=0"],
      },
      1,
    );
    assert.equal(sub.status, 0, sub.stderr);
    const task = `${sub.stdout.trim()}_0`;
    const expDir = path.join(results, "quickstart");
    const metricsRows = () => {
      const id = fs.existsSync(expDir) ? fs.readdirSync(expDir).find((n) => n.startsWith("synthetic--")) : undefined;
      const f = id ? path.join(expDir, id, "metrics.jsonl") : "";
      return f && fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).length : 0;
    };
    const wait = async (what: string, ok: () => boolean) => {
      for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 250)))
        assert.ok(Date.now() - t0 < 200_000, `timed out waiting for ${what}`);
    };
    await wait("training to start", () => metricsRows() >= 20);
    // What Slurm does 120 s before a time limit (--signal=B:TERM@120): SIGTERM to the batch shell only.
    assert.equal(spawnSync("scancel", ["--signal=TERM", "--batch", task], { env }).status, 0);
    const state = () => spawnSync("squeue", ["-h", "-j", task, "-o", "%T"], { env, encoding: "utf8" }).stdout.trim();
    await wait("the requeue", () => state() === "PENDING");
    // Slurm holds a requeued job for cred_expire (15 s in local-cluster.sh) before it may start again. Moving its start
    // time earlier makes slurmd refuse the launch ("job credential revoked") and the job fails, so it is left alone.
    // The resumed attempt is done when the cell's summary says success (the queue alone can look empty for a moment
    // while Slurm moves a requeued job between states), and the queue has emptied.
    const summaryStatus = () => {
      const id = fs.existsSync(expDir) ? fs.readdirSync(expDir).find((n) => n.startsWith("synthetic--")) : undefined;
      try {
        return (JSON.parse(fs.readFileSync(path.join(expDir, id!, "summary.json"), "utf8")) as RunSummary).status;
      } catch {
        return undefined;
      }
    };
    await wait("the resumed attempt to finish the cell", () => summaryStatus() === "success");
    await wait(
      "the queue to empty",
      () => !spawnSync("squeue", ["-h", "-o", "%j"], { env, encoding: "utf8" }).stdout.includes("lora-lab-quickstart"),
    );
    const log = fs.readFileSync(path.join(expDir, "slurm", "logs", `${task}.out`), "utf8");
    assert.match(log, /SIGTERM: finishing the current step and writing a checkpoint/);
    assert.match(log, /worker interrupted after a checkpoint: requeueing task 0/);
    assert.match(log, /restart 1/);
    assert.match(log, /resuming from step \d+/);
    const id = fs.readdirSync(expDir).find((n) => n.startsWith("synthetic--"))!;
    assert.equal(
      (JSON.parse(fs.readFileSync(path.join(expDir, id, "summary.json"), "utf8")) as RunSummary).status,
      "success",
    );
    const stepsLogged = fs
      .readFileSync(path.join(expDir, id, "metrics.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(
      stepsLogged,
      Array.from({ length: steps }, (_, i) => i + 1),
      "every step logged once across the two attempts",
    );
    fs.rmSync(tmp, { recursive: true, force: true });
  },
);

test.after(() => {
  if (cluster.startedHere) spawnSync("bash", [SCRIPT, "stop"], { env });
});
