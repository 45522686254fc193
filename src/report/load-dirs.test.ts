// Several --results-dir folders (copied back from clusters without a shared filesystem): runs are merged by id, a
// finished copy wins over an unfinished one, identical copies are silent, and the `slurm/` folder is not a run.
// `report` of an experiment without results exits 2.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadExperiment } from "./load.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "load-dirs-test-"));

function run(root: string, id: string, summary: object | null): void {
  const d = path.join(root, "exp", id);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, "config.json"), JSON.stringify({ model: "random:d=64,L=2" }));
  if (summary) fs.writeFileSync(path.join(d, "summary.json"), JSON.stringify(summary));
}

test("runs of several results folders are merged; the finished copy wins", () => {
  const a = path.join(tmp, "a"),
    b = path.join(tmp, "b");
  run(a, "r1", { status: "success", finishedAt: "2026-01-01T00:00:00Z", final: {} });
  run(b, "r1", { status: "success", finishedAt: "2026-01-01T00:00:00Z", final: {} });
  run(a, "r2", null); // still running on cluster A
  run(b, "r2", { status: "success", finishedAt: "2026-01-02T00:00:00Z", final: {} });
  run(b, "r3", { status: "failed", error: "x", final: {} });
  fs.mkdirSync(path.join(a, "exp", "slurm", "logs"), { recursive: true });
  const e = loadExperiment([a, b, path.join(tmp, "missing")], "exp");
  assert.deepEqual(
    e.runs.map((r) => [r.runId, r.status]),
    [
      ["r1", "success"],
      ["r2", "success"],
      ["r3", "failed"],
    ],
  );
  assert.equal(e.runs[1]!.dir, path.join(b, "exp", "r2"));
  assert.equal(e.warnings.filter((w) => w.includes("r1")).length, 0, "identical copies are silent");
  assert.ok(
    e.warnings.some((w) => w.includes("r2") && w.includes("using the second")),
    e.warnings.join("\n"),
  );
  assert.ok(
    e.warnings.some((w) => w.includes("missing")),
    "a missing folder is a warning",
  );
  assert.equal(loadExperiment([path.join(tmp, "none")], "exp").exists, false);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("`report` of an experiment with no results (a typo) exits 2 and writes nothing", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "report-cli-"));
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "experiments/run.ts",
      "report",
      "nosuchexperiment",
      "--results-dir",
      path.join(dir, "results"),
      "--reports-dir",
      path.join(dir, "reports"),
    ],
    { cwd: REPO, encoding: "utf8" },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /no results for experiment "nosuchexperiment" in .*results: check the name, or run `sweep nosuchexperiment` first/,
  );
  assert.ok(!fs.existsSync(path.join(dir, "reports")));
  fs.rmSync(dir, { recursive: true, force: true });
});
