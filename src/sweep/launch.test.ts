// `--slurm --print` and `--k8s --print`: the job array script and the Indexed Job manifest (what they must hold for
// the scheduler to run one shard per task, signal before the time limit, requeue and share one results folder).
// The real Slurm run is in tools/slurm/slurm.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runSweep, type SweepArgs } from "../cli/sweep.ts";
import { EXPERIMENTS } from "../../experiments/index.ts";
import { captureConsole } from "../testing/capture-console.ts";

async function printed(a: Partial<SweepArgs>): Promise<string> {
  const c = await captureConsole(() =>
    runSweep(
      { experiment: "quickstart", backend: "wasm", "results-dir": "/shared/results", print: true, ...a },
      EXPERIMENTS,
    ),
  );
  assert.equal(c.value, 0);
  return c.out;
}

test("--slurm --print: a job array, one task per shard, TERM 120 s before the limit, requeue, logs in results/<exp>/slurm/logs", async () => {
  const s = await printed({
    slurm: true,
    shards: 3,
    partition: "gpu",
    "gpus-per-task": 1,
    "cpus-per-task": 8,
    mem: "32G",
    time: "12:00:00",
    "array-parallelism": 2,
    "sbatch-arg": ["--account=abc"],
    set: ["train.steps=3"],
    only: ["seed=0"],
    lease: 120,
  });
  for (const line of [
    "#SBATCH --array=0-2%2",
    "#SBATCH --signal=B:TERM@120",
    "#SBATCH --requeue",
    "#SBATCH --partition=gpu",
    "#SBATCH --gpus-per-task=1",
    "#SBATCH --cpus-per-task=8",
    "#SBATCH --mem=32G",
    "#SBATCH --time=12:00:00",
    "#SBATCH --account=abc",
    "#SBATCH --output=/shared/results/quickstart/slurm/logs/%A_%a.out",
  ]) {
    assert.ok(s.split("\n").includes(line), `${line} in\n${s}`);
  }
  assert.match(
    s,
    /experiments\/run\.ts sweep quickstart --set train\.steps=3 --only seed=0 --backend wasm --results-dir \/shared\/results --lease 120 --no-report &/,
  );
  assert.match(s, /trap 'kill -TERM "\$child" 2>\/dev\/null' TERM/);
  assert.match(s, /if \[ "\$rc" -eq 75 \]; then\n.*\n  scontrol requeue "\$SLURM_JOB_ID"/);
  assert.match(s, /run\.ts report quickstart --results-dir \/shared\/results --reports-dir \S+reports/);
});

test("--k8s --print: an Indexed Job with completions = shards, the shard from JOB_COMPLETION_INDEX, exit 75 retried", async () => {
  const m = await printed({ k8s: true, shards: 4, parallelism: 2, gpus: 1, image: "registry/lora-lab:1" });
  for (const line of [
    "  completionMode: Indexed",
    "  completions: 4",
    "  parallelism: 2",
    '          image: "registry/lora-lab:1"',
    "              nvidia.com/gpu: 1",
  ]) {
    assert.ok(m.split("\n").includes(line), `${line} in\n${m}`);
  }
  assert.match(
    m,
    /args: \["sweep", "quickstart", "--backend", "wasm", "--results-dir", "\/data\/results", "--no-report", "--shards", "4"\]/,
  );
  assert.match(m, /action: Ignore .*\n.*values: \[75\]/);
  assert.match(m, /action: FailJob .*\n.*values: \[2\]/);
  assert.match(m, /persistentVolumeClaim: \{ claimName: "lora-lab-data" \}/);
});
