// runSweep's contract: finished cells are skipped untouched, --force archives the old folder to
// .archive/ and reruns, --only filters, --dry-run runs nothing, a diverging cell does not stop the sweep, and bad
// input (unknown experiment, an --only value on no axis, a --set of the wrong type, a folder written by another
// config under the same id) fails with a clear error before anything is deleted or overwritten.
// Runs the real `quickstart` experiment, cut down with --only (one width) and --set (4 steps, 20 eval docs).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RunSummary } from "../results.ts";
import { runSweep, type SweepArgs } from "./sweep.ts";
import { EXPERIMENTS } from "../../experiments/index.ts";
import { captureConsole } from "../testing/capture-console.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sweep-cli-test-"));
const dataDir = path.join(tmp, "datasets");
const TINY_SET = [
  "train.steps=4",
  "train.batchSize=4",
  "train.checkpointEvery=2",
  "eval.limit=20",
  "stability.probeEvery=2",
];
// One width and one seed of the real quickstart.
const D64 = "model=random:d=64,L=2";
const S0 = "seed=0";

/** runSweep with the test's folders, capturing what it prints. */
async function sweep(
  resultsDir: string,
  a: Partial<SweepArgs> = {},
): Promise<{ code: number; out: string; err: string }> {
  const c = await captureConsole(() =>
    runSweep(
      {
        experiment: "quickstart",
        set: TINY_SET,
        backend: "wasm",
        report: false,
        "results-dir": resultsDir,
        "data-dir": dataDir,
        "reports-dir": path.join(tmp, "reports"),
        ...a,
      },
      EXPERIMENTS,
    ),
  );
  return { code: c.value, out: c.out, err: c.err };
}

function runs(resultsDir: string): string[] {
  const d = path.join(resultsDir, "quickstart");
  return fs.existsSync(d)
    ? fs
        .readdirSync(d)
        .filter((n) => !n.startsWith("."))
        .sort()
    : [];
}

function summaryOf(resultsDir: string, runId: string): RunSummary {
  return JSON.parse(fs.readFileSync(path.join(resultsDir, "quickstart", runId, "summary.json"), "utf8")) as RunSummary;
}

/** Every file under dir with its mtime and bytes, to show that nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const f = path.join(e.parentPath, e.name);
    out[path.relative(dir, f)] = `${fs.statSync(f).mtimeMs}:${fs.readFileSync(f).toString("base64")}`;
  }
  return out;
}

test("--only filters; a second run skips finished cells without touching them; --force archives and reruns", async () => {
  const results = path.join(tmp, "skip");
  const first = await sweep(results, { only: [D64, S0, "optimizer=adamw,stable-lora"] });
  assert.equal(first.code, 0, first.err);
  const ids = runs(results);
  assert.equal(ids.length, 2, ids.join("\n"));
  assert.ok(ids.some((i) => i.includes("--adamw--")) && ids.some((i) => i.includes("--stable-lora--")));
  assert.ok(ids.every((i) => i.includes("random-d=64")));
  for (const id of ids) assert.equal(summaryOf(results, id).status, "success");

  const before = snapshot(results);
  const second = await sweep(results, { only: [D64, S0, "optimizer=adamw,stable-lora"] });
  assert.equal(second.code, 0, second.err);
  assert.match(second.err, /2 cells, 2 finished, 0 to run/);
  assert.deepEqual(snapshot(results), before, "finished cells are skipped: no file rewritten (mtimes and bytes equal)");

  // --force: the finished folder moves to .archive/ intact, and the cell reruns from scratch.
  const adamw = ids.find((i) => i.includes("--adamw--"))!;
  const old = summaryOf(results, adamw);
  const forced = await sweep(results, { only: [D64, S0, "optimizer=adamw"], force: true });
  assert.equal(forced.code, 0, forced.err);
  const archived = fs.readdirSync(path.join(results, "quickstart", ".archive"));
  assert.equal(archived.length, 1);
  assert.ok(archived[0]!.startsWith(`${adamw}-`), archived[0]);
  const archivedDir = path.join(results, "quickstart", ".archive", archived[0]!);
  for (const [f, v] of Object.entries(before)) {
    if (f.startsWith(`quickstart/${adamw}/`))
      assert.equal(
        snapshot(archivedDir)[f.slice(`quickstart/${adamw}/`.length)]?.split(":")[1],
        v.split(":")[1],
        `archived ${f} intact`,
      );
  }
  const rerun = summaryOf(results, adamw);
  assert.equal(rerun.status, "success");
  assert.notEqual(rerun.startedAt, old.startedAt, "the cell was rerun");
  assert.deepEqual(rerun.final, old.final, "same config, same backend → same numbers");
  // The other cell was not in --only, so it is untouched.
  const sl = ids.find((i) => i.includes("--stable-lora--"))!;
  assert.equal(
    fs.statSync(path.join(results, "quickstart", sl, "summary.json")).mtimeMs,
    Number(before[`quickstart/${sl}/summary.json`]!.split(":")[0]),
  );

  // --dry-run: the table with each cell's status; nothing runs or changes.
  const snap = snapshot(results);
  const dry = await sweep(results, { only: [D64, S0], "dry-run": true });
  assert.equal(dry.code, 0);
  assert.deepEqual(snapshot(results), snap);
  const lines = dry.out.split("\n");
  assert.match(lines[0]!, /^#\s+run id\s+status\s+est\./);
  assert.equal(lines.filter((l) => /^\d+\s/.test(l)).length, 5, dry.out);
  assert.ok(
    lines.some((l) => l.includes(adamw) && /\ssuccess\s/.test(l)),
    dry.out,
  );
  assert.equal(lines.filter((l) => /^\d+\s.*\snew\s/.test(l)).length, 3, dry.out);
  assert.match(dry.out, /quickstart: 5 cells \(2 success, 3 new\); estimated \S+ of training to run the rest/);
});

test("a folder written by a different config under the same id is refused, and nothing is deleted", async () => {
  const results = path.join(tmp, "conflict");
  assert.equal((await sweep(results, { only: [D64, S0, "optimizer=adamw"] })).code, 0);
  const [id] = runs(results);
  const cfgFile = path.join(results, "quickstart", id!, "config.json");
  const cfg = JSON.parse(fs.readFileSync(cfgFile, "utf8")) as { seed: number };
  fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, seed: 7 }, null, 2));
  const before = snapshot(results);
  for (const force of [false, true]) {
    await assert.rejects(sweep(results, { only: [D64, S0, "optimizer=adamw"], force }), (e: Error) => {
      assert.match(
        e.message,
        /config\.json was written by a different config \(hash [0-9a-f]{6}\) than this cell \(hash [0-9a-f]{6}\)/,
      );
      assert.match(e.message, /Nothing was changed; move or delete .* yourself/);
      return true;
    });
    assert.deepEqual(snapshot(results), before, `nothing deleted or rewritten (force=${force})`);
  }
  // A sweep that includes the conflicting cell among others refuses before running any of them.
  await assert.rejects(sweep(results, { only: [D64, S0, "optimizer=adamw,lora-plus"] }), /different config/);
  assert.deepEqual(runs(results), [id]);
});

test("a diverging cell is recorded as diverged and the sweep goes on", async () => {
  const results = path.join(tmp, "diverge");
  // lr = 1e6, no clipping: AdamW's decoupled weight decay (×(1 − lr·wd) per step) overflows the factors.
  const r = await sweep(results, {
    only: [D64, S0, "optimizer=adamw,lora-plus"],
    set: [...TINY_SET, "train.steps=12", "optimizer.lr=1e6", "train.maxGradNorm=0"],
  });
  const ids = runs(results);
  assert.equal(ids.length, 2);
  const statuses = Object.fromEntries(
    ids.map((i) => [i.includes("--adamw--") ? "adamw" : "lora-plus", summaryOf(results, i)]),
  );
  assert.equal(statuses.adamw!.status, "diverged");
  assert.ok(statuses.adamw!.divergedAtStep! >= 1);
  assert.ok(["diverged", "success"].includes(statuses["lora-plus"]!.status), "the next cell ran to an end");
  assert.equal(r.code, 0, "diverging is a result, not a failure");
  // Diverged cells count as finished: not rerun.
  assert.match(
    (
      await sweep(results, {
        only: [D64, S0, "optimizer=adamw,lora-plus"],
        set: [...TINY_SET, "train.steps=12", "optimizer.lr=1e6", "train.maxGradNorm=0"],
      })
    ).err,
    /2 finished, 0 to run/,
  );
});

test("bad input: clear errors, nothing created", async () => {
  const results = path.join(tmp, "bad");
  await assert.rejects(
    sweep(results, { experiment: "no-such-experiment" }),
    /unknown experiment "no-such-experiment"\. Known: quickstart, /,
  );
  await assert.rejects(
    sweep(results, { only: ["optimizer=sgd"] }),
    /--only optimizer=sgd: no cell of experiment quickstart matches\. Its axes: .*optimizer ∈/s,
  );
  await assert.rejects(sweep(results, { only: ["nosuchkey=1"] }), /"nosuchkey" is not a config key/);
  await assert.rejects(sweep(results, { set: ["train.steps=abc"] }), /train\.steps/);
  await assert.rejects(sweep(results, { set: ["optimizer.lr=-1"] }), /optimizer\.lr/);
  await assert.rejects(sweep(results, { set: ["train.stepz=4"] }), /unknown key "train\.stepz"/);
  await assert.rejects(sweep(results, { set: ["optimizer.name=sgd"] }), /optimizer\.name/);
  assert.ok(!fs.existsSync(results), "nothing was written");
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
