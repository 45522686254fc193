// `sweep --slurm` on a real one-node Slurm (tools/slurm/local-cluster.sh; CI installs Debian's slurmctld, slurmd,
// slurm-client and munge): a job array of three tasks, each a shard of a tiny quickstart (10 cells, 3 steps), plus
// the report job. Waits for the queue to empty, then checks every cell, the shard logs and the report. Skips, with
// the reason, where Slurm cannot start (not root, packages missing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { RunSummary } from "../../src/results.ts";

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
  if (process.getuid?.() !== 0) return { skip: "Slurm test needs root (slurmd runs jobs as any user)", startedHere: false };
  const wasUp = alive(path.join(SLURM_DIR, "slurmctld.pid"));
  const r = spawnSync("bash", [SCRIPT, "start"], { encoding: "utf8", env });
  if (r.status !== 0) return { skip: `Slurm cannot start here: ${(r.stderr || r.stdout).trim().split("\n").pop()}`, startedHere: false };
  return { startedHere: !wasUp };
}

const cluster = startCluster();

test("sweep --slurm: a 3-task job array on a real Slurm trains every cell once and the report job runs after it", { skip: cluster.skip, timeout: 300_000 }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "slurm-test-"));
  const results = path.join(tmp, "results"), reports = path.join(tmp, "reports");
  const sub = spawnSync(process.execPath, ["--import", "tsx", "experiments/run.ts", "sweep", "quickstart", "--set", "train.steps=3", "--set", "train.batchSize=4",
    "--set", "eval.limit=20", "--only", "model=random:d=64,L=2", "--backend", "wasm", "--results-dir", results, "--reports-dir", reports,
    "--data-dir", path.join(tmp, "datasets"), "--slurm", "--shards", "3"], { cwd: REPO, env, encoding: "utf8" });
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
  const taskLogs = fs.readdirSync(logs).filter((f) => new RegExp(`^${jobId}_\\d+\\.out$`).test(f)).sort();
  assert.deepEqual(taskLogs, [0, 1, 2].map((i) => `${jobId}_${i}.out`));
  const started = taskLogs.flatMap((f) => [...fs.readFileSync(path.join(logs, f), "utf8").matchAll(/^\[\d+\/\d+\] (\S+)/gm)].map((m) => m[1]!));
  assert.deepEqual(started.sort(), ids.sort(), "each cell trained by exactly one array task");
  for (const [i, f] of taskLogs.entries()) assert.match(fs.readFileSync(path.join(logs, f), "utf8"), new RegExp(`shard ${i}/3 from SLURM_ARRAY_TASK_ID`));
  assert.ok(fs.existsSync(path.join(reports, "quickstart", "index.html")), "the report job wrote the report");
  const runsMd = fs.readFileSync(path.join(reports, "quickstart", "tables", "runs.md"), "utf8");
  for (const id of ids) assert.ok(runsMd.includes(id), `${id} in the report`);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test.after(() => {
  if (cluster.startedHere) spawnSync("bash", [SCRIPT, "stop"], { env });
});
